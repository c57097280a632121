using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Silo.Hosting;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;

namespace Plandex.Tests.Foundation;

/// <summary>
/// Promise 4, in transit: with a certificate, silos speak TLS to clients and to each other, and what crosses the
/// network between a client and a gateway holds none of a plan (a raw socket records that traffic). A client trusts
/// only a certificate that names the gateway and chains to what it trusts; a plaintext client is refused.
/// </summary>
public sealed class TransportTlsTests
{
    private static Dictionary<string, string> WithCertificate(LoopbackCertificate cert) =>
        new() { ["Tls:CertificateFile"] = cert.PemPath, ["Tls:KeyFile"] = cert.KeyPath };

    [Fact]
    public async Task Two_silos_over_TLS_serve_a_plan_and_the_wire_carries_none_of_it_in_the_clear()
    {
        await using var db = await TestDatabase.CreateAsync();
        using var cert = new LoopbackCertificate(TestEnv.NewWorkDir("transport-tls"));
        await using var a = await SiloProcess.StartAsync(db, "tls-a", WithCertificate(cert));
        await using var b = await SiloProcess.StartAsync(db, "tls-b", WithCertificate(cert));

        string canary;
        byte[] seen;
        using (var wire = new LoopbackSniffer(a.GatewayPort))
        {
            int clusterSize;
            (canary, clusterSize) = await UseAPlanAsync(a, new ServerTls(TlsMode.On, cert.PemPath));
            Assert.Equal(2, clusterSize); // the silos found each other: silo-to-silo is TLS as well (below)
            seen = wire.Seen();
        }
        Assert.True(seen.Length > 4_000, $"only {seen.Length} bytes crossed the wire");
        Assert.Equal(0x16, seen[0]); // a TLS handshake record opens the connection
        Assert.Equal(0, new CanaryScanner(canary).Scan(seen).Total);
        foreach (var silo in new[] { a, b })
        {
            // The silo port answers TLS with the cluster's certificate (that is how the two silos talk).
            Assert.Equal(cert.Certificate.Thumbprint, (await PresentedCertificateAsync(silo.SiloPort)).Thumbprint);
            Assert.Equal(cert.Certificate.Thumbprint, (await PresentedCertificateAsync(silo.GatewayPort)).Thumbprint);
        }
        Console.WriteLine($"[measure] transport TLS: {seen.Length:N0} bytes between client and gateway, canary found 0 times");

        // Positive control: the same path without TLS (a loopback silo of another cluster) shows the plan in the clear.
        await using var plain = await SiloProcess.StartAsync(db, "plain", clusterId: "plain");
        using var plainWire = new LoopbackSniffer(plain.GatewayPort);
        var (plainCanary, _) = await UseAPlanAsync(plain, new ServerTls(TlsMode.Off), clusterId: "plain");
        Assert.True(new CanaryScanner(plainCanary).Scan(plainWire.Seen()).Total > 0, "the sniffer did not see the plaintext control's canary");
    }

    [Fact]
    public async Task A_client_refuses_an_untrusted_or_misnamed_certificate_and_a_silo_refuses_a_plaintext_client()
    {
        await using var db = await TestDatabase.CreateAsync();
        var dir = TestEnv.NewWorkDir("transport-tls-refusals");
        using var cert = new LoopbackCertificate(dir);
        using var otherName = new LoopbackCertificate(dir, loopbackNames: false);
        await using var silo = await SiloProcess.StartAsync(db, "tls", WithCertificate(cert));
        await using var misnamed = await SiloProcess.StartAsync(db, "misnamed", WithCertificate(otherName), clusterId: "misnamed");

        // Positive control: trusted and named, it connects.
        await using (var ok = await Connect(silo, new ServerTls(TlsMode.On, cert.PemPath)))
            Assert.Equal("test", (await ok.GetClusterStatusAsync()).ClusterId);

        // A refused certificate is one line naming why, at once: with one gateway, retrying it cannot help.
        var untrusted = await Assert.ThrowsAsync<ServerUnreachableException>(() => Connect(silo, new ServerTls(TlsMode.On)));
        Assert.Equal($"will not connect to the Plandex server at {silo.Gateway} over TLS: its certificate ({cert.Certificate.Subject}) does not chain "
            + "to this system's trusted roots (set PLANDEX_CA_FILE to trust a server's own CA or certificate)", untrusted.Message);
        var otherCa = await Assert.ThrowsAsync<ServerUnreachableException>(() => Connect(silo, new ServerTls(TlsMode.On, otherName.PemPath)));
        Assert.EndsWith($"over TLS: its certificate ({cert.Certificate.Subject}) does not chain to the certificates in PLANDEX_CA_FILE", otherCa.Message);
        var wrongName = await Assert.ThrowsAsync<ServerUnreachableException>(() => Connect(misnamed, new ServerTls(TlsMode.On, otherName.PemPath), "misnamed"));
        Assert.EndsWith($"over TLS: its certificate ({otherName.Certificate.Subject}) does not name that host", wrongName.Message);
        // Two gateways: either might answer, so the client tries both to its limit, then names a refusal it met.
        var both = new ServerAddress([silo.Gateway, misnamed.Gateway]);
        var bothRefused = await Assert.ThrowsAsync<ServerUnreachableException>(() =>
            PlandexClient.ConnectAsync(new PlandexClientOptions { Server = both, ClusterId = "test", Tls = new ServerTls(TlsMode.On) }));
        Assert.StartsWith($"will not connect to the Plandex server at {both} over TLS: its certificate ({cert.Certificate.Subject}) does not ", bothRefused.Message);
        var plaintext = await Assert.ThrowsAsync<ServerUnreachableException>(() => Connect(silo, new ServerTls(TlsMode.Off)));
        Assert.Contains("without TLS", plaintext.Message);
        Assert.False(silo.HasExited);
    }

    [Fact]
    public void A_peer_silo_is_trusted_by_the_cluster_certificates_key_or_by_the_CA_file_and_nothing_else()
    {
        var dir = TestEnv.NewWorkDir("transport-tls-peers");
        using var own = new LoopbackCertificate(dir);
        using var stranger = new LoopbackCertificate(dir); // same names, another key
        using var presentedOwn = X509CertificateLoader.LoadCertificate(own.Certificate.RawData); // as it arrives: no private key
        Assert.True(TransportTls.PeerTrusted(presentedOwn, own.Certificate, null, []));
        Assert.False(TransportTls.PeerTrusted(stranger.Certificate, own.Certificate, null, []));

        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=plandex-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var siloKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var issued = new CertificateRequest("CN=silo-b", siloKey, HashAlgorithmName.SHA256)
            .Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1), [1, 2, 3, 4]);
        var caOnly = new X509Certificate2Collection(X509CertificateLoader.LoadCertificate(ca.RawData));
        Assert.True(TransportTls.PeerTrusted(issued, own.Certificate, caOnly, []));
        Assert.False(TransportTls.PeerTrusted(stranger.Certificate, own.Certificate, caOnly, []));
        Assert.False(TransportTls.PeerTrusted(presentedOwn, own.Certificate, caOnly, [])); // with a CA file, the key alone is not enough
    }

    [Fact]
    public void Auto_means_TLS_unless_every_gateway_is_loopback_and_a_bad_mode_is_named()
    {
        Assert.False(new ServerTls().AppliesTo(ServerAddress.Parse("127.0.0.1:30000,[::1]:30001")));
        Assert.True(new ServerTls().AppliesTo(ServerAddress.Parse("127.0.0.1:30000,192.0.2.7:30000")));
        Assert.True(new ServerTls(TlsMode.On).AppliesTo(ServerAddress.Parse("127.0.0.1:30000")));
        Assert.False(new ServerTls(TlsMode.Off).AppliesTo(ServerAddress.Parse("192.0.2.7:30000")));
        Assert.Equal("localhost", ServerAddress.Parse("localhost:30000").HostOf(new IPEndPoint(IPAddress.Loopback, 30000)));
        var bad = Assert.Throws<ArgumentException>(() => ServerTls.ParseMode("yes"));
        Assert.Equal("PLANDEX_TLS must be on, off or auto, not 'yes'", bad.Message);
    }

    /// <summary>Signs up, makes a plan and loads a context file; returns the canary and the cluster's size.</summary>
    private static async Task<(string Canary, int ClusterSize)> UseAPlanAsync(SiloProcess silo, ServerTls tls, string clusterId = "test")
    {
        var canary = CanaryScanner.NewCanary();
        await using var anonymous = await SiloProcess.ConnectAsync([silo], clusterId: clusterId, tls: tls);
        var account = await anonymous.SignUpAsync(new SignUpRequest($"t{Guid.NewGuid():N}@example.com", "Tess " + canary));
        await using var client = await SiloProcess.ConnectAsync([silo], account.Token, clusterId, tls);
        var plan = (await client.Org(account.OrgId).CreatePlan("plan " + canary)).PlanId;
        await client.Plan(plan).LoadContext([new ContextUpload($"notes/{canary}.txt", "body " + canary)]);
        Assert.Equal("body " + canary, await client.Plan(plan).ShowContext($"notes/{canary}.txt"));
        Assert.Contains(canary, (await client.Account(account.AccountId).WhoAmI()).Name);
        var status = await client.GetClusterStatusAsync();
        return (canary, status.Silos.Count(s => s.Status == "Active"));
    }

    private static Task<PlandexClient> Connect(SiloProcess silo, ServerTls tls, string clusterId = "test") =>
        PlandexClient.ConnectAsync(new PlandexClientOptions { Server = new ServerAddress([silo.Gateway]), ClusterId = clusterId, Tls = tls });

    /// <summary>The certificate a TLS handshake on <paramref name="port"/> presents (accepted whatever it is: only read).</summary>
    private static async Task<X509Certificate2> PresentedCertificateAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        X509Certificate2? presented = null;
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, c, _, _) =>
        {
            presented = c is null ? null : X509CertificateLoader.LoadCertificate(c.GetRawCertData());
            return true;
        });
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1" });
        return presented ?? throw new InvalidOperationException("no certificate was presented");
    }
}
