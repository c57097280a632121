using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;
using Plandex.Silo.Configuration;

namespace Plandex.Silo.Hosting;

/// <summary>
/// The silo's transport TLS (promise 4), set up here and nowhere else.
/// - Inbound (clients and other silos): no certificate is asked for. A client's session token authenticates every
///   call; silos send none. So no certificate a stranger presents is ever parsed or chased.
/// - Outbound, to another silo: its certificate must be this silo's own (the cluster shares one; compared by public
///   key, so a renewed certificate with the same key still matches), or, with <c>Tls:CaFile</c>, chain to that file.
///   Silos reach each other by address, so the name is not checked. Certificate downloads (AIA) are off: a
///   self-hosted silo contacts no certificate authority (promise 5), and trusting "any certificate a public CA signed"
///   would let anyone holding one pose as a silo.
/// Only the certificate itself is sent, not intermediates from the file: a client completes a public CA's chain itself
/// (.NET fetches missing intermediates on the user's machine), and a private CA is given to clients whole
/// (PLANDEX_CA_FILE).
/// </summary>
internal static class TransportTls
{
    public static void Apply(ISiloBuilder silo, TlsSettings settings)
    {
        if (!settings.Enabled) return;
        var (certificate, chain) = Load(settings);
        var trusted = settings.CaFile.Length > 0 ? LoadCa(settings.CaFile) : null;
        var policy = ChainPolicy(trusted, chain);
        silo.UseTls(certificate, o =>
        {
            // Not NoCertificate: for outbound connections that would skip checking the other silo altogether.
            o.RemoteCertificateMode = RemoteCertificateMode.AllowCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.NoCertificate; // sends none of its own
            o.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            o.RemoteCertificateValidation = (presented, _, _) => PeerTrusted(presented, certificate, trusted, chain);
            o.OnAuthenticateAsServer = (_, server) => server.ClientCertificateRequired = false;
            o.OnAuthenticateAsClient = (_, client) => ((SslClientAuthenticationOptions)client.SslClientAuthenticationOptions).CertificateChainPolicy = policy;
        });
    }

    /// <summary>Whether a silo presenting <paramref name="presented"/> is one of this cluster's.</summary>
    internal static bool PeerTrusted(X509Certificate2 presented, X509Certificate2 own, X509Certificate2Collection? ca, X509Certificate2Collection extra)
    {
        if (ca is null) return presented.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(own.PublicKey.ExportSubjectPublicKeyInfo());
        using var chain = new X509Chain { ChainPolicy = ChainPolicy(ca, extra) };
        return chain.Build(presented);
    }

    private static X509ChainPolicy ChainPolicy(X509Certificate2Collection? ca, X509Certificate2Collection extra)
    {
        var policy = new X509ChainPolicy { DisableCertificateDownloads = true, RevocationMode = X509RevocationMode.NoCheck };
        policy.ExtraStore.AddRange(extra);
        if (ca is not null)
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(ca);
        }
        return policy;
    }

    private static (X509Certificate2 Certificate, X509Certificate2Collection Chain) Load(TlsSettings s)
    {
        var setting = s.KeyFile.Length > 0 ? "Tls:KeyFile" : "Tls:CertificateFile";
        try
        {
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(s.CertificateFile);
            using var withKey = X509Certificate2.CreateFromPemFile(s.CertificateFile, s.KeyFile.Length > 0 ? s.KeyFile : null);
            // Through PKCS#12: SslStream needs a private key it can keep using, not the PEM loader's ephemeral one.
            return (X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null), chain);
        }
        catch (CryptographicException e)
        {
            throw new SettingsError(setting, $"cannot load the certificate and its private key ({e.Message.TrimEnd('.')})");
        }
    }

    private static X509Certificate2Collection LoadCa(string file)
    {
        var trusted = new X509Certificate2Collection();
        try { trusted.ImportFromPemFile(file); }
        catch (CryptographicException e) { throw new SettingsError("Tls:CaFile", $"cannot read its certificates ({e.Message.TrimEnd('.')})"); }
        return trusted.Count > 0 ? trusted : throw new SettingsError("Tls:CaFile", "holds no certificate");
    }
}
