using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Plandex.Client.Connection;

/// <summary>Whether the client speaks TLS to the gateways: on, off, or (auto) unless every gateway is on this machine.</summary>
public enum TlsMode { Auto, On, Off }

/// <summary>
/// How the client encrypts its connections to the gateways (promise 4), and the one place it decides whether to
/// trust a server: the certificate must name the gateway's host as written in <c>PLANDEX_SERVER</c> and chain to
/// the system's roots, or, when <see cref="CaFile"/> is set, to the certificates in that PEM file (a self-hosted
/// server's own CA or certificate) and nothing else.
/// </summary>
public sealed record ServerTls(TlsMode Mode = TlsMode.Auto, string? CaFile = null)
{
    public const string ModeVariable = "PLANDEX_TLS";
    public const string CaFileVariable = "PLANDEX_CA_FILE";

    /// <exception cref="ArgumentException">PLANDEX_TLS is not on, off or auto.</exception>
    public static ServerTls FromEnvironment()
    {
        var ca = Environment.GetEnvironmentVariable(CaFileVariable);
        return new(ParseMode(Environment.GetEnvironmentVariable(ModeVariable)), string.IsNullOrWhiteSpace(ca) ? null : ca);
    }

    public static TlsMode ParseMode(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => TlsMode.Auto,
        "on" => TlsMode.On,
        "off" => TlsMode.Off,
        _ => throw new ArgumentException($"{ModeVariable} must be on, off or auto, not '{text}'"),
    };

    /// <summary>Loopback traffic never leaves the machine; anything else is encrypted unless explicitly turned off.</summary>
    public bool AppliesTo(ServerAddress server) =>
        Mode == TlsMode.On || (Mode == TlsMode.Auto && !server.Gateways.All(g => IPAddress.IsLoopback(g.Address)));

    /// <summary>
    /// Turns TLS on for <paramref name="client"/>; each certificate it refuses is reported to <paramref name="refused"/>
    /// with the reason, in words a user can act on.
    /// </summary>
    internal void Configure(Orleans.Hosting.IClientBuilder client, ServerAddress server, Action<string> refused)
    {
        var trusted = CaFile is null ? null : LoadTrust(CaFile);
        client.UseTls(o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.NoCertificate; // the session token authenticates, per call
            o.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
            o.OnAuthenticateAsClient = (connection, ssl) => ssl.TargetHost = server.HostOf(connection.RemoteEndPoint);
            o.RemoteCertificateValidation = (presented, _, errors) =>
            {
                if (Refusal(presented, errors, trusted) is not { } why) return true;
                refused(why);
                return false;
            };
        });
    }

    /// <summary>Null when the certificate is trusted; otherwise why not (the certificate's subject is public).</summary>
    private static string? Refusal(X509Certificate2? presented, SslPolicyErrors errors, X509Certificate2Collection? trusted)
    {
        if (presented is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0) return "it presented no certificate";
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
            return $"its certificate ({presented.Subject}) does not name that host";
        if (trusted is null)
            return errors == SslPolicyErrors.None ? null
                : $"its certificate ({presented.Subject}) does not chain to this system's trusted roots (set {CaFileVariable} to trust a server's own CA or certificate)";
        // Only the chain's verdict is replaced: against the given certificates instead of the system's roots.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(presented) ? null : $"its certificate ({presented.Subject}) does not chain to the certificates in {CaFileVariable}";
    }

    private static X509Certificate2Collection LoadTrust(string file)
    {
        var trusted = new X509Certificate2Collection();
        try { trusted.ImportFromPemFile(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new ArgumentException($"{CaFileVariable}: cannot read certificates from '{file}' ({e.Message.TrimEnd('.')})");
        }
        return trusted.Count > 0 ? trusted : throw new ArgumentException($"{CaFileVariable}: '{file}' holds no certificate");
    }
}
