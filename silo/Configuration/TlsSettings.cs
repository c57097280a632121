using System.Net;

namespace Plandex.Silo.Configuration;

/// <summary>
/// Section "Tls": encryption in transit (promise 4) for the client gateway and for silo-to-silo connections. With a
/// certificate every connection this silo accepts or makes is TLS. Without one, the silo listens on loopback only:
/// session tokens, prompts, context and replies would otherwise cross a network in the clear.
/// </summary>
internal sealed class TlsSettings
{
    public const string Section = "Tls";
    /// <summary>PEM: this silo's certificate, then any intermediates (and its key, if <see cref="KeyFile"/> is empty).</summary>
    public string CertificateFile { get; set; } = "";
    /// <summary>PEM: the certificate's private key.</summary>
    public string KeyFile { get; set; } = "";
    /// <summary>PEM: what another silo's certificate must chain to. Empty: the certificate file's own certificates.</summary>
    public string CaFile { get; set; } = "";
    /// <summary>Listen beyond loopback without TLS: only where the network itself encrypts (a service mesh's mTLS).</summary>
    public bool AllowPlaintext { get; set; }

    public bool Enabled => CertificateFile.Length > 0;

    public void Validate(ClusterSettings cluster)
    {
        if (!Enabled)
        {
            if (KeyFile.Length > 0) throw new SettingsError("Tls:KeyFile", "is set without Tls:CertificateFile");
            if (CaFile.Length > 0) throw new SettingsError("Tls:CaFile", "is set without Tls:CertificateFile");
            var beyondLoopback = cluster.ListenOnAnyAddress || !IPAddress.IsLoopback(cluster.ParsedAdvertisedAddress);
            if (beyondLoopback && !AllowPlaintext)
                throw new SettingsError("Tls:CertificateFile",
                    "is required when the silo listens beyond loopback (Cluster:ListenOnAnyAddress or a non-loopback Cluster:AdvertisedAddress): "
                    + "without it session tokens and plans cross the network in the clear (Tls:AllowPlaintext=true only where the network encrypts)");
            return;
        }
        if (AllowPlaintext) throw new SettingsError("Tls:AllowPlaintext", "contradicts Tls:CertificateFile (with a certificate every connection is TLS)");
        foreach (var (file, setting) in new[] { (CertificateFile, "Tls:CertificateFile"), (KeyFile, "Tls:KeyFile"), (CaFile, "Tls:CaFile") })
            if (file.Length > 0 && !File.Exists(file)) throw new SettingsError(setting, $"'{file}' does not exist");
    }
}
