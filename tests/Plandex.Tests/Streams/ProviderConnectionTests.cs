using System.Net;
using System.Net.Sockets;
using System.Text;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>
/// Provider connections are kept alive between streams (ProviderConnectionPool): reused while fresh, replaced when
/// the provider closed them, and a reused one the provider drops before answering is retried on a new one.
/// </summary>
public sealed class ProviderConnectionTests(OneSiloWorld world) : IClassFixture<OneSiloWorld>
{
    private readonly StreamWorld _w = world.World;

    private async Task<List<StreamEvent>> TellAndCollectAsync(Guid plan, string endpoint)
    {
        await using var client = await _w.ClientAsync();
        var list = new List<StreamEvent>();
        await foreach (var e in await client.Streams.TellWatchingAsync(plan, "hello", endpoint, (byte[])_w.Key.Clone())) list.Add(e);
        return list;
    }

    [Fact]
    public async Task Sequential_streams_share_one_connection_and_a_connection_closed_while_idle_is_replaced()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=30");
        Assert.Equal(StreamEventKind.Finished, (await TellAndCollectAsync(plan, _w.Endpoint))[^1].Kind);
        var second = await TellAndCollectAsync(plan, _w.Endpoint);
        Assert.Equal(StreamEventKind.Finished, second[^1].Kind);
        Assert.Equal(ProviderStubServer.ExpectedText(30), StreamWorld.Text(second));
        var requests = _w.Stub.Requests.Where(r => r.Model == "stub-tokens=30").ToList();
        Assert.Equal(2, requests.Count);
        Assert.Equal(requests[0].ConnectionId, requests[1].ConnectionId);

        // A provider that closes idle connections after 1 s: the next stream gets a new one and works.
        await using var closing = await ProviderStubServer.StartAsync(new StubOptions { KeepAliveTimeout = TimeSpan.FromSeconds(1) });
        var closingEndpoint = closing.BaseUrl.ToString().TrimEnd('/') + "/v1";
        Assert.Equal(StreamEventKind.Finished, (await TellAndCollectAsync(plan, closingEndpoint))[^1].Kind);
        await Task.Delay(TimeSpan.FromSeconds(3.5)); // Kestrel checks keep-alive once a second
        var after = await TellAndCollectAsync(plan, closingEndpoint);
        Assert.Equal(StreamEventKind.Finished, after[^1].Kind);
        Assert.Equal(ProviderStubServer.ExpectedText(30), StreamWorld.Text(after));
        Assert.Equal(2, closing.Requests.Count);
        Assert.NotEqual(closing.Requests[0].ConnectionId, closing.Requests[1].ConnectionId);
    }

    [Fact]
    public async Task A_reused_connection_dropped_before_any_answer_is_retried_once_on_a_fresh_one()
    {
        // A provider that answers the first request on a connection, then drops the connection when the second
        // request arrives on it, before sending a byte (as one closing an idle connection at that moment would).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = new List<(int Connection, int Request)>();
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            for (var c = 1; !stop.IsCancellationRequested; c++)
            {
                var socket = await listener.AcceptSocketAsync(stop.Token);
                var connection = c;
                _ = Task.Run(async () =>
                {
                    using var s = socket;
                    await using var stream = new NetworkStream(s);
                    for (var r = 1; ; r++)
                    {
                        if (!await ReadRequestAsync(stream)) return;
                        lock (served) served.Add((connection, r));
                        if (connection == 1 && r == 2) { s.Close(); return; }
                        await stream.WriteAsync(SseReply("fine "));
                    }
                });
            }
        });

        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "tiny");
        var endpoint = $"http://127.0.0.1:{port}/v1";
        var first = await TellAndCollectAsync(plan, endpoint);
        Assert.Equal(StreamEventKind.Finished, first[^1].Kind);
        var second = await TellAndCollectAsync(plan, endpoint);
        Assert.True(second[^1].Kind == StreamEventKind.Finished, $"second stream: {second[^1].Kind} {second[^1].Text}");
        Assert.Equal("fine ", StreamWorld.Text(second));
        lock (served) Assert.Equal([(1, 1), (1, 2), (2, 1)], served);
        stop.Cancel();
        listener.Stop();
        try { await server; } catch (Exception e) when (e is OperationCanceledException or SocketException) { }
    }

    // Reads one HTTP/1.1 request (head, then Content-Length bytes of body); false at the end of the connection.
    private static async Task<bool> ReadRequestAsync(NetworkStream stream)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one) == 0) return false;
            head.Add(one[0]);
        }
        var text = Encoding.ASCII.GetString(head.ToArray());
        var line = text.Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        var length = int.Parse(line.Split(':')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
        var body = new byte[length];
        await stream.ReadExactlyAsync(body);
        return true;
    }

    private static byte[] SseReply(string token)
    {
        static string Chunk(string data) => $"{Encoding.UTF8.GetByteCount(data):x}\r\n{data}\r\n";
        var events = Chunk($"data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{token}\"}}}}]}}\n\n") + Chunk("data: [DONE]\n\n") + "0\r\n\r\n";
        return Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + events);
    }
}
