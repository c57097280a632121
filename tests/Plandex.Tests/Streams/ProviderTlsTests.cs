using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using Plandex.Grains.Providers;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;

namespace Plandex.Tests.Streams;

/// <summary>
/// The provider TLS client (our OpenSSL binding, <see cref="ProviderTlsStream"/>) against .NET's own TLS server: it
/// carries data both ways across many records, sees the server's close, and refuses a certificate it does not trust
/// or one that names another host.
/// </summary>
public sealed class ProviderTlsTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")] // a DNS name: checked against the certificate's names and sent as SNI
    public async Task Data_crosses_both_ways_and_the_close_is_seen(string host)
    {
        using var cert = new LoopbackCertificate(TestEnv.NewWorkDir("tls"));
        var payload = RandomNumberGenerator.GetBytes(100_000); // several records
        await using var server = await TlsServer.StartAsync(cert, async tls =>
        {
            var request = new byte[4];
            await tls.ReadExactlyAsync(request);
            Assert.Equal("ping"u8.ToArray(), request);
            await tls.WriteAsync(payload);
            await tls.ShutdownAsync();
        });
        await using var tcp = await server.ConnectAsync();
        await using var client = await ProviderTlsStream.ConnectAsync(tcp, host, CancellationToken.None, cert.PemPath);
        await client.WriteAsync("ping"u8.ToArray());
        var got = new MemoryStream();
        var buffer = new byte[3000];
        for (int n; (n = await client.ReadAsync(buffer)) > 0;) got.Write(buffer, 0, n);
        Assert.Equal(payload, got.ToArray());
        await server.Served;
    }

    [Fact]
    public async Task One_read_takes_every_record_that_has_come()
    {
        // A model's stream is one record per token: a paced reader that got one record per read fell behind the pace.
        using var cert = new LoopbackCertificate(TestEnv.NewWorkDir("tls"));
        var sent = new TaskCompletionSource();
        var done = new TaskCompletionSource();
        await using var server = await TlsServer.StartAsync(cert, async tls =>
        {
            for (var i = 0; i < 5; i++) await tls.WriteAsync(System.Text.Encoding.ASCII.GetBytes($"token{i} ")); // a record each
            sent.SetResult();
            await done.Task;
        });
        await using var tcp = await server.ConnectAsync();
        await using var client = await ProviderTlsStream.ConnectAsync(tcp, "127.0.0.1", CancellationToken.None, cert.PemPath);
        await sent.Task;
        await Task.Delay(200); // all five records are in the socket
        var buffer = new byte[1024];
        var n = await client.ReadAsync(buffer);
        done.SetResult();
        Assert.Equal("token0 token1 token2 token3 token4 ", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task The_ciphertext_buffer_stays_small_through_the_handshake_grows_for_a_burst_and_shrinks_when_paced()
    {
        // A certificate of several KB fills the first reads of the handshake; a paced stream must not keep 17 KB for it.
        using var cert = new LoopbackCertificate(TestEnv.NewWorkDir("tls"), large: true);
        var burst = RandomNumberGenerator.GetBytes(100_000);
        var paced = new TaskCompletionSource();
        var done = new TaskCompletionSource();
        await using var server = await TlsServer.StartAsync(cert, async tls =>
        {
            await tls.WriteAsync(burst);
            await paced.Task;
            await tls.WriteAsync("tick"u8.ToArray());
            await done.Task;
        });
        await using var tcp = await server.ConnectAsync();
        await using var client = await ProviderTlsStream.ConnectAsync(tcp, "127.0.0.1", CancellationToken.None, cert.PemPath);
        Assert.Equal(2 * 1024, client.InputCapacity);

        var buffer = new byte[64 * 1024];
        var (got, largest) = (0, 0);
        while (got < burst.Length)
        {
            got += await client.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, burst.Length - got)));
            largest = Math.Max(largest, client.InputCapacity);
        }
        Assert.Equal(17 * 1024, largest);
        paced.SetResult();
        Assert.Equal(4, await client.ReadAsync(buffer));
        done.SetResult();
        Assert.Equal(2 * 1024, client.InputCapacity);
    }

    [Fact]
    public async Task A_certificate_the_client_does_not_trust_is_refused()
    {
        using var cert = new LoopbackCertificate(TestEnv.NewWorkDir("tls"));
        using var other = new LoopbackCertificate(TestEnv.NewWorkDir("tls"));
        await using var server = await TlsServer.StartAsync(cert, _ => Task.CompletedTask);
        await using var tcp = await server.ConnectAsync();
        var e = await Assert.ThrowsAsync<ProviderException>(() => ProviderTlsStream.ConnectAsync(tcp, "127.0.0.1", CancellationToken.None, other.PemPath));
        Assert.Contains("could not be verified", e.Message);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("localhost")]
    public async Task A_trusted_certificate_for_another_name_is_refused(string host)
    {
        using var cert = new LoopbackCertificate(TestEnv.NewWorkDir("tls"), loopbackNames: false);
        await using var server = await TlsServer.StartAsync(cert, _ => Task.CompletedTask);
        await using var tcp = await server.ConnectAsync();
        var e = await Assert.ThrowsAsync<ProviderException>(() => ProviderTlsStream.ConnectAsync(tcp, host, CancellationToken.None, cert.PemPath));
        Assert.Contains("could not be verified", e.Message);
    }

    /// <summary>One TLS connection served by SslStream with the given certificate.</summary>
    private sealed class TlsServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        public Task Served { get; private set; } = Task.CompletedTask;

        public static Task<TlsServer> StartAsync(LoopbackCertificate cert, Func<SslStream, Task> serve)
        {
            var s = new TlsServer();
            s._listener.Start();
            s.Served = s.ServeAsync(cert, serve);
            return Task.FromResult(s);
        }

        private async Task ServeAsync(LoopbackCertificate cert, Func<SslStream, Task> serve)
        {
            using var socket = await _listener.AcceptSocketAsync();
            await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
            try { await tls.AuthenticateAsServerAsync(cert.Certificate); }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException) { return; } // the client refused it
            await serve(tls);
        }

        public async Task<NetworkStream> ConnectAsync()
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)_listener.LocalEndpoint).Port);
            return new NetworkStream(socket, ownsSocket: true);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            try { await Served.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { /* the test has its verdict */ }
        }
    }
}
