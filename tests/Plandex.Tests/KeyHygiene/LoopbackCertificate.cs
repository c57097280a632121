using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Plandex.Tests.KeyHygiene;

/// <summary>
/// A self-signed certificate for https://127.0.0.1, for a TLS provider stub or a silo's transport TLS (<see cref="KeyPath"/>). A silo trusts it when started with
/// <c>SSL_CERT_FILE</c> naming <see cref="PemPath"/> (.NET on Linux reads its roots from there; the file then is the
/// silo's whole trust store, which is right for a test that reaches no real provider).
/// </summary>
internal sealed class LoopbackCertificate : IDisposable
{
    public X509Certificate2 Certificate { get; }
    public string PemPath { get; }
    /// <summary>The private key as PEM (PKCS#8), beside <see cref="PemPath"/>.</summary>
    public string KeyPath { get; }

    /// <param name="loopbackNames">False: the certificate names only "other.example", so it fails a check of the
    /// loopback address or "localhost".</param>
    /// <param name="large">An RSA 4096 key and 80 more names: a certificate several KB long, as a real chain is.</param>
    public LoopbackCertificate(string directory, bool loopbackNames = true, bool large = false)
    {
        using AsymmetricAlgorithm key = large ? RSA.Create(4096) : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = key is RSA rsa
            ? new CertificateRequest("CN=plandex-test-provider", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            : new CertificateRequest("CN=plandex-test-provider", (ECDsa)key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        for (var i = 0; large && i < 80; i++) names.AddDnsName($"name-{i}.padding.example");
        if (loopbackNames)
        {
            names.AddIpAddress(IPAddress.Loopback);
            names.AddDnsName("localhost");
        }
        else names.AddDnsName("other.example");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // server auth
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Through PKCS#12 so Kestrel gets a certificate whose private key it can use on any platform.
        Certificate = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
        PemPath = Path.Combine(directory, $"test-provider-{Guid.NewGuid():N}.pem");
        File.WriteAllText(PemPath, created.ExportCertificatePem() + "\n");
        KeyPath = Path.ChangeExtension(PemPath, ".key");
        File.WriteAllText(KeyPath, (key is RSA r ? r.ExportPkcs8PrivateKeyPem() : ((ECDsa)key).ExportPkcs8PrivateKeyPem()) + "\n");
    }

    public void Dispose() => Certificate.Dispose();
}
