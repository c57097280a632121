using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;
using Plandex.Grains.Providers;

namespace Plandex.Tests.Streams;

/// <summary>
/// The provider reader decodes the HTTP body's framing synchronously from its buffer (chunk sizes, extensions,
/// the CRLF after each chunk, trailers, Content-Length, a body read until the close). A raw loopback server sends
/// each framing whole and one byte at a time: the text must come out the same, a connection read to its exact end
/// must go back to the pool, and a broken framing must end in one clear error.
/// </summary>
public sealed class ProviderFramingTests
{
    private static readonly string[] Parts = ["Hel", "lo, ", "wor", "ld"];

    private static string Events()
    {
        var sb = new StringBuilder();
        foreach (var p in Parts) sb.Append("data: {\"choices\":[{\"delta\":{\"content\":\"").Append(p).Append("\"}}]}\n\n");
        sb.Append("data: [DONE]\n\n");
        return sb.ToString();
    }

    private static string Chunked(string body, string trailers = "")
    {
        // Chunks cut at awkward places (inside lines and events), one with an extension.
        var sb = new StringBuilder();
        for (int i = 0, n = 0; i < body.Length; i += n)
        {
            n = Math.Min(body.Length - i, 7 + i % 11);
            sb.Append(n.ToString("x")).Append(i == 0 ? ";ext=1" : "").Append("\r\n").Append(body, i, n).Append("\r\n");
        }
        return sb.Append("0\r\n").Append(trailers).Append("\r\n").ToString();
    }

    private const string Head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n";

    public static TheoryData<string, bool, bool> Framings() => new()
    {
        { Head + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(Events()), false, true },
        { Head + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(Events()), true, true },
        { Head + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(Events(), "X-Trailer: 1\r\nX-Other: 2\r\n"), true, true },
        { Head + $"Content-Length: {Encoding.UTF8.GetByteCount(Events())}\r\n\r\n" + Events(), false, true },
        { Head + $"Content-Length: {Encoding.UTF8.GetByteCount(Events())}\r\n\r\n" + Events(), true, true },
        { Head + "Connection: close\r\n\r\n" + Events(), true, false },
    };

    [Theory]
    [MemberData(nameof(Framings))]
    public async Task Every_framing_gives_the_whole_text_and_a_connection_read_to_its_end_is_kept(string response, bool byteByByte, bool reusable)
    {
        await using var server = await RawServer.StartAsync(response, byteByByte, close: !reusable);
        var (text, pool, endpoint) = await RunAsync(server.Port);
        using var _ = pool;
        Assert.Equal(string.Concat(Parts), text);
        using var kept = pool.TryTake(endpoint);
        Assert.Equal(reusable, kept is not null);
    }

    // The event stream's own forms: a comment, CRLF line ends, one event's JSON over two data lines, an event name
    // and no space after the colon, an empty data line. Whole in one read, cut into chunks inside lines, sent byte by
    // byte, or one chunk per line (an event's data line and its end in different chunks): the text is the same.
    private const string FieldForms =
        ": keep-alive\r\n\r\n"
        + "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n"
        + "data: {\"choices\":[{\"delta\":\r\ndata: {\"content\":\"lo, \"}}]}\r\n\r\n"
        + "event: message\ndata:{\"choices\":[{\"delta\":{\"content\":\"wor\"}}]}\n\n"
        + "data:\ndata: {\"choices\":[{\"delta\":{\"content\":\"ld\"}}]}\n\n"
        + "data: [DONE]\n\n";

    public static TheoryData<string, bool> FieldFormFramings() => new()
    {
        { Head + $"Content-Length: {Encoding.UTF8.GetByteCount(FieldForms)}\r\n\r\n" + FieldForms, false },
        { Head + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(FieldForms), false },
        { Head + "Transfer-Encoding: chunked\r\n\r\n" + Chunked(FieldForms), true },
        { Head + "Transfer-Encoding: chunked\r\n\r\n" + ChunkedByLine(FieldForms), false },
    };

    // One chunk per line: a data line is whole in its chunk and its event's end comes in the next one.
    private static string ChunkedByLine(string body)
    {
        var sb = new StringBuilder();
        foreach (var l in body.Split('\n')[..^1]) sb.Append((Encoding.UTF8.GetByteCount(l) + 1).ToString("x")).Append("\r\n").Append(l).Append("\n\r\n");
        return sb.Append("0\r\n\r\n").ToString();
    }

    [Theory]
    [MemberData(nameof(FieldFormFramings))]
    public async Task Every_form_of_event_gives_the_same_text_whole_or_cut(string response, bool byteByByte)
    {
        await using var server = await RawServer.StartAsync(response, byteByByte, close: false);
        var (text, pool, _) = await RunAsync(server.Port);
        pool.Dispose();
        Assert.Equal(string.Concat(Parts), text);
    }

    [Theory]
    [InlineData("Transfer-Encoding: chunked\r\n\r\n" + "20\r\ndata: {\"choices\":[{\"delta\"", "dropped mid-stream")]
    [InlineData("Transfer-Encoding: chunked\r\n\r\n" + "zz\r\n", "malformed chunk")]
    [InlineData("Transfer-Encoding: chunked\r\n\r\n" + "0\r\n\r\n", "closed the connection before the reply was complete")]
    [InlineData("Content-Length: 100\r\n\r\ndata: {\"choices\":[]}\n\n", "dropped mid-stream")]
    [InlineData("Connection: close\r\n\r\ndata: {\"choices\":[]}\n\n", "closed the connection before the reply was complete")]
    public async Task A_broken_body_ends_in_one_clear_error(string rest, string expected)
    {
        await using var server = await RawServer.StartAsync(Head + rest, byteByByte: false, close: true);
        var e = await Assert.ThrowsAsync<ProviderException>(async () => (await RunAsync(server.Port)).Pool.Dispose());
        Assert.Contains(expected, e.Message);
        Assert.False(e.Unreachable); // the provider answered: its address stays cached
    }

    [Fact]
    public async Task A_refused_connection_is_reported_as_unreachable()
    {
        // A port that was just free: nothing listens there, so the connect is refused.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var e = await Assert.ThrowsAsync<ProviderException>(() => RunAsync(port));
        Assert.Contains("cannot connect", e.Message);
        Assert.True(e.Unreachable); // so the session drops the host's cached address
    }

    [Fact]
    public async Task The_request_body_is_released_once_the_provider_answers()
    {
        await using var server = await RawServer.StartAsync(Head + $"Content-Length: {Encoding.UTF8.GetByteCount(Events())}\r\n\r\n" + Events(), byteByByte: true, close: false);
        var released = new List<bool>();
        var (text, pool, _) = await RunAsync(server.Port, b => released.Add(b.Released));
        pool.Dispose();
        Assert.Equal(string.Concat(Parts), text);
        Assert.NotEmpty(released);
        Assert.All(released, Assert.True); // every hand-over (the whole stream) runs without holding the body
    }

    private static async Task<(string Text, ProviderConnectionPool Pool, ResolvedEndpoint Endpoint)> RunAsync(int port, Action<RequestBody>? onHandOver = null)
    {
        var options = Options.Create(new ProvidersOptions());
        var pool = new ProviderConnectionPool(options, TimeProvider.System);
        var endpoint = new ResolvedEndpoint(new Uri($"http://127.0.0.1:{port}/v1"), IPAddress.Loopback);
        var streamId = Guid.NewGuid();
        using var pair = new SessionKeyPair();
        using var key = pair.Unseal(ProviderKeySeal.Seal(pair.PublicKey, streamId, endpoint.BaseUrl.ToString(), "sk-framing-test"u8), streamId);
        var request = new ProviderRequest(Guid.NewGuid(), streamId, "openai", "m", [new ProviderMessage("user", "hi")]);
        var text = new StringBuilder();
        var wire = IProviderWire.For("openai");
        var body = RequestBody.For(wire, request);
        await ProviderCall.RunAsync(pool, key, endpoint, wire, body,
            e => { onHandOver?.Invoke(body); text.Append(e.Text); return ValueTask.CompletedTask; },
            TimeSpan.FromSeconds(5), () => TimeSpan.FromMilliseconds(5), CancellationToken.None);
        return (text.ToString(), pool, endpoint);
    }

    /// <summary>Answers one request with a canned response, whole or one byte per write.</summary>
    private sealed class RawServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private Task _serving = Task.CompletedTask;
        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static Task<RawServer> StartAsync(string response, bool byteByByte, bool close)
        {
            var s = new RawServer();
            s._listener.Start();
            s._serving = s.ServeAsync(Encoding.UTF8.GetBytes(response), byteByByte, close);
            return Task.FromResult(s);
        }

        private async Task ServeAsync(byte[] response, bool byteByByte, bool close)
        {
            using var socket = await _listener.AcceptSocketAsync();
            socket.NoDelay = true;
            var buffer = new byte[8192];
            var seen = new StringBuilder();
            // The whole request, body included: closing with unread bytes would reset the connection (RST), and the
            // reader could then see a reset instead of the end of a read-until-close body.
            while (!RequestComplete(seen.ToString()))
            {
                var n = await socket.ReceiveAsync(buffer);
                if (n == 0) return;
                seen.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            if (byteByByte)
                for (var i = 0; i < response.Length; i++) { await socket.SendAsync(response.AsMemory(i, 1)); if (i % 16 == 0) await Task.Delay(1); }
            else await socket.SendAsync(response);
            if (close) { socket.Shutdown(SocketShutdown.Both); return; }
            // Keep the connection open until the client closes it (a kept-alive connection).
            try { while (await socket.ReceiveAsync(buffer) > 0) { } } catch (SocketException) { }
        }

        private static bool RequestComplete(string seen)
        {
            var end = seen.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) return false;
            var length = System.Text.RegularExpressions.Regex.Match(seen[..end], @"(?im)^content-length:\s*(\d+)");
            return !length.Success || seen.Length - (end + 4) >= int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            try { await _serving.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { /* the test has its verdict */ }
        }
    }
}
