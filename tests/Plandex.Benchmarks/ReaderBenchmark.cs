using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;
using Plandex.Grains.Providers;

namespace Plandex.Benchmarks;

/// <summary>
/// The provider reader alone: the silo's <see cref="ProviderCall"/> (HTTP framing, SSE, each event's JSON) against
/// HttpClient with the direct reader's parse, on the same canned reply from a loopback server in this process (no
/// silo, stub, client or database). It isolates the reader's cost per event from the contention of the streams
/// benchmark, where a flood's stub, silo and client share two cores.
/// </summary>
internal static class ReaderBenchmark
{
    public static int Run(string[] args)
    {
        var events = 20_000;
        var reps = 41;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--events" when i + 1 < args.Length && int.TryParse(args[i + 1], out var e) && e > 0: events = e; i++; break;
                case "--reps" when i + 1 < args.Length && int.TryParse(args[i + 1], out var r) && r > 0: reps = r; i++; break;
                default:
                    Console.Error.WriteLine($"reader: unknown or invalid option '{args[i]}' (options: --events N, --reps N)");
                    return 2;
            }
        }
        return RunAsync(events, reps).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int events, int reps)
    {
        var reply = CannedReply(events);
        await using var server = new CannedServer(reply);
        var endpoint = new ResolvedEndpoint(new Uri($"http://127.0.0.1:{server.Port}/v1"), IPAddress.Loopback);
        var keyBytes = "sk-reader-benchmark"u8.ToArray();
        var streamId = Guid.NewGuid();
        using var pair = new SessionKeyPair();
        using var key = pair.Unseal(ProviderKeySeal.Seal(pair.PublicKey, streamId, endpoint.BaseUrl.ToString(), keyBytes), streamId);
        using var pool = new ProviderConnectionPool(Microsoft.Extensions.Options.Options.Create(new ProvidersOptions()), TimeProvider.System);
        var wire = IProviderWire.For("openai");
        var request = new ProviderRequest(Guid.NewGuid(), streamId, "openai", "m", [new ProviderMessage("user", "hello")]);
        var direct = new DirectStubReader(new Uri($"http://127.0.0.1:{server.Port}/"), keyBytes);

        async Task<(double Ms, double CpuMs)> Relay()
        {
            var chars = 0;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var t0 = Stopwatch.GetTimestamp();
            await ProviderCall.RunAsync(pool, key, endpoint, wire, RequestBody.For(wire, request),
                e => { chars += e.Text?.Length ?? 0; return ValueTask.CompletedTask; },
                TimeSpan.FromSeconds(10), () => TimeSpan.Zero, CancellationToken.None);
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (chars == 0) throw new InvalidOperationException("the relay's reader got no text");
            return (ms, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds);
        }

        async Task<(double Ms, double CpuMs)> Direct()
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var t0 = Stopwatch.GetTimestamp();
            var r = await direct.ReadAsync("m", null, CancellationToken.None);
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (!r.Done || r.Tokens != events) throw new InvalidOperationException($"the direct reader got {r.Tokens} of {events} tokens");
            return (ms, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds);
        }

        // Warm-up: tiered JIT settles after a few seconds of both loops.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(6)) { await Relay(); await Direct(); }

        var relay = new List<(double Ms, double CpuMs)>();
        var plain = new List<(double Ms, double CpuMs)>();
        for (var i = 0; i < reps; i++)
        {
            relay.Add(await Relay());
            plain.Add(await Direct());
        }
        double Median(IEnumerable<double> xs) { var s = xs.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }
        var (rm, rc, dm, dc) = (Median(relay.Select(x => x.Ms)), Median(relay.Select(x => x.CpuMs)), Median(plain.Select(x => x.Ms)), Median(plain.Select(x => x.CpuMs)));
        Console.WriteLine($"### Provider reader: {events:N0} OpenAI events of {reply.Length / events} bytes each, one chunk per event, from a loopback server in this process (median of {reps})");
        Console.WriteLine("| Reader | wall per reply | ns per event (wall) | CPU of the process per reply (reader + server) |");
        Console.WriteLine("|---|---|---|---|");
        Console.WriteLine($"| Relay (`ProviderCall`) | {rm:N2} ms | {rm * 1e6 / events:N0} | {rc:N1} ms |");
        Console.WriteLine($"| Direct (HttpClient, the streams benchmark's parse) | {dm:N2} ms | {dm * 1e6 / events:N0} | {dc:N1} ms |");
        Console.WriteLine($"Relay vs direct, wall: {dm / rm:N2}× the direct reader's rate. Command: `dotnet run -c Release --project tests/Plandex.Benchmarks -- reader --events {events} --reps {reps}`");
        return 0;
    }

    /// <summary>An HTTP/1.1 reply framed as the provider stub frames a flood: one chunk per event, then [DONE].</summary>
    private static byte[] CannedReply(int events)
    {
        const string head = "data: {\"id\":\"chatcmpl-bench1\",\"object\":\"chat.completion.chunk\",\"created\":1765000000,\"model\":\"m\",";
        var sb = new StringBuilder("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n");
        void Chunk(string s) => sb.Append(Encoding.UTF8.GetByteCount(s).ToString("x")).Append("\r\n").Append(s).Append("\r\n");
        for (var i = 0; i < events; i++)
            Chunk(head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t" + i + " \"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");
        Chunk("data: [DONE]\n\n");
        return Encoding.UTF8.GetBytes(sb.Append("0\r\n\r\n").ToString());
    }

    /// <summary>Answers every request on every connection with the same reply, keeping connections open.</summary>
    private sealed class CannedServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        public CannedServer(byte[] reply)
        {
            _listener.Start();
            _accepting = AcceptAsync(reply);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        private async Task AcceptAsync(byte[] reply)
        {
            var connections = new List<Task>();
            try
            {
                while (true) connections.Add(ServeAsync(await _listener.AcceptSocketAsync(_stop.Token), reply));
            }
            catch (OperationCanceledException) { }
            await Task.WhenAll(connections);
        }

        private async Task ServeAsync(Socket socket, byte[] reply)
        {
            using var _ = socket;
            socket.NoDelay = true;
            var buffer = new byte[16 * 1024];
            var seen = new StringBuilder();
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var n = await socket.ReceiveAsync(buffer, _stop.Token);
                    if (n == 0) return;
                    seen.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    if (!RequestComplete(seen)) continue;
                    seen.Clear();
                    await socket.SendAsync(reply, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException) { }
        }

        // A request is whole once its head and Content-Length bytes of body have come.
        private static bool RequestComplete(StringBuilder seen)
        {
            var s = seen.ToString();
            var end = s.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) return false;
            var m = System.Text.RegularExpressions.Regex.Match(s[..end], @"(?im)^content-length:\s*(\d+)");
            return !m.Success || s.Length - (end + 4) >= int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try { await _accepting.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception e) when (e is TimeoutException or SocketException) { }
            _stop.Dispose();
        }
    }
}
