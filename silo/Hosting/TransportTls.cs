using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;
using Plandex.Silo.Configuration;

namespace Plandex.Silo.Hosting;

/// <summary>
/// The silo's transport TLS (promise 4), set up here and nowhere else. Clients present no certificate (their session
/// token authenticates every call); a silo this one connects to must present a certificate that chains to
/// <c>Tls:CaFile</c> (without one: is one of the certificate file's own). Silos reach each other by address, so the
/// name in that certificate is not checked, its chain is. Only the certificate itself is sent, not intermediates from
/// the file: a client completes a public CA's chain itself (.NET fetches missing intermediates), and a private CA is
/// given to clients whole (PLANDEX_CA_FILE).
/// </summary>
internal static class TransportTls
{
    public static void Apply(ISiloBuilder silo, TlsSettings settings)
    {
        if (!settings.Enabled) return;
        var (certificate, chain) = Load(settings);
        var trusted = Trust(settings, chain);
        silo.UseTls(certificate, o =>
        {
            // Inbound: a certificate is asked for, not required (clients have none). Outbound, to another silo: its
            // certificate is required and must pass the check below. This silo sends none of its own as a client.
            o.RemoteCertificateMode = RemoteCertificateMode.AllowCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.NoCertificate;
            o.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            o.RemoteCertificateValidation = (presented, _, _) => ChainsTo(presented, trusted);
        });
    }

    private static bool ChainsTo(X509Certificate2 presented, X509Certificate2Collection trusted)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(presented);
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

    private static X509Certificate2Collection Trust(TlsSettings s, X509Certificate2Collection own)
    {
        if (s.CaFile.Length == 0) return own;
        var trusted = new X509Certificate2Collection();
        try { trusted.ImportFromPemFile(s.CaFile); }
        catch (CryptographicException e) { throw new SettingsError("Tls:CaFile", $"cannot read its certificates ({e.Message.TrimEnd('.')})"); }
        return trusted.Count > 0 ? trusted : throw new SettingsError("Tls:CaFile", "holds no certificate");
    }
}
