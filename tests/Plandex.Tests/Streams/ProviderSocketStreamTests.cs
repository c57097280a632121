using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Providers;

namespace Plandex.Tests.Streams;

/// <summary>
/// A paced read loop holds its provider socket's wake-ups while it waits (SO_RCVLOWAT raised): small arrivals must
/// then really not signal the socket, and no read may ever wait behind the raised mark: not a read of an empty
/// socket, not TLS's read of the rest of a record, not a pooled connection's idle check. Real loopback sockets; Linux
/// (where the hold is on, and where CI runs).
/// </summary>
public sealed class ProviderSocketStreamTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(5); // far under the mark's "never": 16 KB that never come

    [Fact]
    public async Task Held_arrivals_do_not_signal_the_socket_and_a_read_still_takes_them_at_once()
    {
        using var pair = await SocketPair.ConnectAsync();
        await using var transport = new ProviderSocketStream(pair.Client);
        transport.HoldWakeups(16 * 1024);

        await pair.Server.SendAsync("data: 1\n\n"u8.ToArray());
        await WaitUntilAsync(() => pair.Client.Available == 9);
        Assert.False(pair.Client.Poll(200_000, SelectMode.SelectRead)); // buffered, yet not readable: no wake-up

        var buffer = new byte[64];
        Assert.Equal(9, await transport.ReadAsync(buffer).AsTask().WaitAsync(Prompt));
    }

    [Theory]
    [InlineData(64)]
    [InlineData(0)] // SslStream waits for a record with a zero-byte read of the stream under it
    public async Task A_read_of_an_empty_held_socket_ends_with_the_next_byte_not_the_mark(int size)
    {
        using var pair = await SocketPair.ConnectAsync();
        await using var transport = new ProviderSocketStream(pair.Client);
        transport.HoldWakeups(16 * 1024);

        var read = transport.ReadAsync(new byte[size]).AsTask();
        await Task.Delay(100);
        Assert.False(read.IsCompleted);
        await pair.Server.SendAsync("tok"u8.ToArray());
        Assert.Equal(Math.Min(size, 3), await read.WaitAsync(Prompt));
        Assert.Equal(1, LowWater(pair.Client));
    }

    [Fact]
    public async Task A_zero_byte_read_of_a_held_socket_with_data_ends_at_once_and_keeps_the_mark()
    {
        using var pair = await SocketPair.ConnectAsync();
        await using var transport = new ProviderSocketStream(pair.Client);
        transport.HoldWakeups(16 * 1024);

        await pair.Server.SendAsync("more"u8.ToArray());
        await WaitUntilAsync(() => pair.Client.Available == 4);
        Assert.Equal(0, await transport.ReadAsync(Memory<byte>.Empty).AsTask().WaitAsync(Prompt));
        Assert.Equal(16 * 1024, LowWater(pair.Client));
        Assert.Equal(4, await transport.ReadAsync(new byte[64]).AsTask().WaitAsync(Prompt));
    }

    [Fact]
    public async Task A_held_read_takes_what_is_buffered_and_then_sees_the_providers_close()
    {
        using var pair = await SocketPair.ConnectAsync();
        await using var transport = new ProviderSocketStream(pair.Client);
        transport.HoldWakeups(16 * 1024);

        await pair.Server.SendAsync("data: 1\n\n"u8.ToArray());
        pair.Server.Shutdown(SocketShutdown.Send);
        await WaitUntilAsync(() => pair.Client.Available == 9);
        var buffer = new byte[64];
        Assert.Equal(9, await transport.ReadAsync(buffer).AsTask().WaitAsync(Prompt));
        Assert.Equal(16 * 1024, LowWater(pair.Client)); // still held
        Assert.Equal(0, await transport.ReadAsync(buffer).AsTask().WaitAsync(Prompt)); // the close, not a wait
        Assert.True(pair.Client.Blocking); // NetworkStream's own reads still block as they should
    }

    [Fact]
    public async Task Tls_reading_the_rest_of_a_record_that_arrives_in_two_parts_does_not_wait_behind_the_mark()
    {
        using var pair = await SocketPair.ConnectAsync();
        using var certificate = SelfSigned();
        await using var splitter = new SplittingStream(new NetworkStream(pair.Server, ownsSocket: false));
        await using var server = new SslStream(splitter);
        var transport = new ProviderSocketStream(pair.Client);
        await using var client = new SslStream(transport, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await Task.WhenAll(
            server.AuthenticateAsServerAsync(certificate),
            client.AuthenticateAsClientAsync("localhost"));

        transport.HoldWakeups(16 * 1024);
        splitter.Split = true; // the next record goes out in two writes 200 ms apart
        var write = server.WriteAsync("data: {\"x\":1}\n\n"u8.ToArray()).AsTask();
        var buffer = new byte[64];
        var n = await client.ReadAsync(buffer).AsTask().WaitAsync(Prompt);
        await write;
        Assert.Equal("data: {\"x\":1}\n\n", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public async Task A_held_connection_goes_back_to_the_pool_with_the_mark_lowered()
    {
        using var pair = await SocketPair.ConnectAsync();
        var transport = new ProviderSocketStream(pair.Client);
        var connection = new ProviderConnection(pair.Client, transport, transport);
        transport.HoldWakeups(16 * 1024);
        Assert.Equal(16 * 1024, LowWater(pair.Client));

        using var pool = new ProviderConnectionPool(Options.Create(new ProvidersOptions()), TimeProvider.System);
        var endpoint = new ResolvedEndpoint(new Uri("http://127.0.0.1:1/v1"), IPAddress.Loopback);
        pool.Return(endpoint, connection);
        Assert.Equal(1, LowWater(pair.Client));

        // A stray byte on the idle connection is seen, so it is not handed out again.
        await pair.Server.SendAsync(new byte[] { 1 });
        await WaitUntilAsync(() => pair.Client.Available == 1);
        Assert.Null(pool.TryTake(endpoint));
    }

    private static int LowWater(Socket socket) => (int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReceiveLowWater)!;

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Prompt;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "the condition did not become true in time");
            await Task.Delay(5);
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    private sealed class SocketPair : IDisposable
    {
        public required Socket Client { get; init; }
        public required Socket Server { get; init; }

        public static async Task<SocketPair> ConnectAsync()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            var accept = listener.AcceptSocketAsync();
            await client.ConnectAsync(listener.LocalEndpoint);
            var server = await accept;
            server.NoDelay = true;
            return new SocketPair { Client = client, Server = server };
        }

        public void Dispose()
        {
            Client.Dispose();
            Server.Dispose();
        }
    }

    /// <summary>Writes through; once <see cref="Split"/> is set, each write goes out as two halves 200 ms apart.</summary>
    private sealed class SplittingStream(Stream inner) : Stream
    {
        public bool Split { get; set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!Split || buffer.Length < 2) { await inner.WriteAsync(buffer, cancellationToken); return; }
            var half = buffer.Length / 2;
            await inner.WriteAsync(buffer[..half], cancellationToken);
            await inner.FlushAsync(cancellationToken);
            await Task.Delay(200, cancellationToken);
            await inner.WriteAsync(buffer[half..], cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override void Flush() => inner.Flush();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
    }
}
