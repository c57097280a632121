using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;

namespace Plandex.Benchmarks;

/// <summary>
/// <c>streams [--streams 1000] [--max 3000] [--quick] [--no-build] [--step 500]</c>: the full stream path
/// (client → gateway → PlanGrain → StreamSessionGrain → provider stub and back) against the same stub read
/// directly by a plain HttpClient. Starts its own PostgreSQL, silo and stub; removes them on exit.
/// </summary>
internal static class StreamBenchmark
{
    private const string Usage = "streams [--streams N=1000] [--max N=3000] [--step N=500] [--quick] [--no-build] [--reps N] [--tokens N] [--only start,throughput,ttft,concurrency] [--user-per-stream [--clients N=1]] [--tls]";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private sealed record Options(int Streams, int Max, int Step, bool Quick, bool Build, string[]? Only = null, int? Reps = null, int? Tokens = null,
        bool UserPerStream = false, bool Tls = false, int Clients = 1)
    {
        public bool Runs(string part) => Only is null || Only.Contains(part);
        public int ThroughputTokens => Tokens ?? (Quick ? 5_000 : 20_000);
        // A 20,000-token stream lasts ~10 ms, and single reps on this 2-core VM spread from 0.8 to 2.3 M tok/s read
        // directly: the median of 9 moved the ratio between 0.51 and 0.80× from run to run of the same code; of 31,
        // between 0.55 and 0.73× (PERF-NOTES, thirteenth session).
        public int ThroughputReps => Reps ?? (Quick ? 2 : 31);
        public int TtftStreams => Quick ? 50 : 200;
        public int PacedTokens => Quick ? 250 : 1_000; // 50 tokens/s: 20 s streams (5 s with --quick)
        public string PacedModel => $"stub-tokens={PacedTokens}-interval=20ms";
    }

    public static int Run(string[] args)
    {
        Options o;
        try { o = Parse(args); }
        catch (FormatException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine("usage: Plandex.Benchmarks " + Usage);
            return 2;
        }
        var harness = new StreamHarness { Root = StreamHarness.FindRoot() };
        // Whatever ends the run, the silo, stub and PostgreSQL go with it.
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        AppDomain.CurrentDomain.ProcessExit += (_, _) => harness.DisposeAsync().AsTask().GetAwaiter().GetResult();
        try
        {
            return RunAsync(o, harness, stop.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("interrupted");
            return 130;
        }
        finally
        {
            StreamHarness.Log("cleaning up (silo, stub, PostgreSQL, temp dir)");
            harness.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static Options Parse(string[] args)
    {
        int streams = 1000, max = 3000, step = 500;
        bool quick = false, build = true, streamsSet = false, maxSet = false, userPerStream = false, tls = false;
        int? reps = null, tokens = null;
        var clients = 1;
        string[]? only = null;
        for (var i = 0; i < args.Length; i++)
        {
            int Next() => i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.None, Inv, out var v) && v > 0
                ? v : throw new FormatException($"{args[i - 1]} needs a positive number");
            switch (args[i])
            {
                case "--streams": streams = Next(); streamsSet = true; break;
                case "--max": max = Next(); maxSet = true; break;
                case "--step": step = Next(); break;
                case "--reps": reps = Next(); break;
                case "--tokens": tokens = Next(); break;
                case "--quick": quick = true; break;
                case "--no-build": build = false; break;
                case "--user-per-stream": userPerStream = true; break;
                case "--tls": tls = true; break;
                case "--clients": clients = Next(); break;
                case "--only" when i + 1 < args.Length: only = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                default: throw new FormatException($"unknown option {args[i]}");
            }
        }
        if (quick && !streamsSet) streams = 200;
        if (quick && !maxSet) max = 400;
        if (quick && step == 500) step = 200;
        if (only?.FirstOrDefault(p => p is not ("start" or "throughput" or "ttft" or "concurrency")) is { } bad) throw new FormatException($"--only: unknown part '{bad}'");
        if (clients > 1 && !userPerStream) throw new FormatException("--clients needs --user-per-stream (each client connection carries its own users)");
        return new Options(streams, Math.Max(max, streams), step, quick, build, only, reps, tokens, userPerStream, tls, clients);
    }

    private static async Task<int> RunAsync(Options o, StreamHarness h, CancellationToken ct)
    {
        var command = "dotnet run -c Release --project tests/Plandex.Benchmarks -- streams " + string.Join(' ', Environment.GetCommandLineArgs().Skip(2));
        var machine = MachineCosts.Measure(); // before the silo, stub and PostgreSQL start, so they do not load it
        await h.StartAsync(o.Build, maxPoolSize: null, new Dictionary<string, string> // the silo's own pool size, as shipped
        {
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Plandex"] = "Warning",
        }, o.Tls);
        ct.ThrowIfCancellationRequested();
        var key = Encoding.UTF8.GetBytes("sk-bench-" + Guid.NewGuid().ToString("N"));
        var endpoint = h.StubBase.ToString().TrimEnd('/') + "/v1";
        var gateway = new ServerAddress([new IPEndPoint(IPAddress.Loopback, h.SiloGatewayPort)]);
        SignInResult account;
        await using (var anon = await PlandexClient.ConnectAsync(new PlandexClientOptions { Server = gateway, ClusterId = h.ClusterId }, ct))
            account = await anon.SignUpAsync(new SignUpRequest($"bench-{Guid.NewGuid():N}@example.com", "Bench"));
        await using var client = await PlandexClient.ConnectAsync(new PlandexClientOptions
        {
            Server = gateway, ClusterId = h.ClusterId, SessionToken = account.Token, ResponseTimeout = TimeSpan.FromSeconds(30),
        }, ct);
        var direct = new DirectStubReader(h.StubBase, key, h.StubCertificate);
        var full = new FullPath(client, endpoint, key);
        var report = new Report(o, command, machine);

        async Task<List<Guid>> Plans(int count, string model)
        {
            var list = new ConcurrentBag<Guid>();
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (_, _) =>
            {
                var p = await client.Org(account.OrgId).CreatePlan("b-" + Guid.NewGuid().ToString("N")[..10]);
                await client.Plan(p.PlanId).SetModel(new ModelSettings("openai", model));
                list.Add(p.PlanId);
            });
            return [.. list];
        }

        // ---- 0. where the start of a stream goes: each step of a tell timed on its own, from the client
        if (o.Runs("start"))
        {
            StreamHarness.Log("0. the start of a stream, step by step: 100 sequential tells (after 20 warm-ups), fresh plans");
            var plans = await Plans(120, "stub-tokens=3");
            var cols = new List<double[]>();
            foreach (var pid in plans)
            {
                var plan = client.Plan(pid);
                var t0 = Stopwatch.GetTimestamp();
                await plan.Describe();
                var t1 = Stopwatch.GetTimestamp();
                var ticket = await plan.BeginTell();
                var t2 = Stopwatch.GetTimestamp();
                var sealedKey = Plandex.GrainInterfaces.Security.ProviderKeySeal.Seal(ticket.SessionPublicKey, ticket.StreamId, endpoint, (byte[])key.Clone());
                var t3 = Stopwatch.GetTimestamp();
                await plan.Tell(ticket.StreamId, "hello", sealedKey);
                var t4 = Stopwatch.GetTimestamp();
                long firstEv = 0, firstChunk = 0;
                await foreach (var e in plan.Watch(0, ct))
                {
                    if (firstEv == 0) firstEv = Stopwatch.GetTimestamp();
                    if (e.Kind == StreamEventKind.Chunk && firstChunk == 0) firstChunk = Stopwatch.GetTimestamp();
                    if (e.IsTerminal) break;
                }
                cols.Add([Ms(t1 - t0), Ms(t2 - t1), Ms(t3 - t2), Ms(t4 - t3), Ms(firstEv - t4), Ms(firstChunk - t4)]);
            }
            report.Start([.. cols.Skip(20)]);
        }

        // ---- 1. single-stream throughput
        if (o.Runs("throughput"))
        {
            // Warm-up: a fresh silo, stub and driver run tier-0 code and re-compile hot methods for the first 5–6 s
            // of reps (dotnet-counters: 200–400 methods a second in each process, under 40 after 6 s; a profile
            // after 2 warm-ups showed JIT taking a third of a core in the driver alone). A long-running silo does
            // not, so both paths warm up for 8 s (at most 100 reps), then pause for the last compilations.
            const int warmUps = 100;
            var warmFor = TimeSpan.FromSeconds(o.Quick ? 1 : 8);
            StreamHarness.Log($"1. single-stream throughput: {o.ThroughputTokens} tokens, interval 0, {o.ThroughputReps} reps after {warmFor.TotalSeconds:N0} s of warm-up reps");
            var fastModel = $"stub-tokens={o.ThroughputTokens}";
            // A fresh plan per run: a plan's conversation grows with every reply and goes into the next request,
            // while the direct reader always sends one message (same request on both sides).
            var fastPlans = await Plans(2 * (o.ThroughputReps + warmUps), fastModel);
            var fullTps = new List<double>();
            var preparedTps = new List<double>();
            var directTps = new List<double>();
            var fullRelay = new List<double>();
            var directRelay = new List<double>();
            var fullTell = new List<double>();
            var fullToLast = new List<double>();
            var preparedToLast = new List<double>();
            var directToLast = new List<double>();
            var load1 = StreamHarness.LoadAverage();
            var warming = Stopwatch.StartNew();
            for (var rep = -warmUps; rep < o.ThroughputReps; rep++)
            {
                if (rep < 0 && warming.Elapsed > warmFor) rep = 0;
                if (rep == 0 && warming.IsRunning)
                {
                    warming.Stop();
                    await Task.Delay(TimeSpan.FromSeconds(2), ct);
                }
                var d = await direct.ReadAsync(fastModel, null, ct);
                Require(d.Done && d.Tokens == o.ThroughputTokens, $"direct read got {d.Tokens} tokens");
                var f = await full.RunAsync(fastPlans[2 * (rep + warmUps)], null, ct);
                Require(f.Outcome == StreamEventKind.Finished && f.Tokens == o.ThroughputTokens, $"full path: {f.Outcome} {f.Tokens} tokens {f.Error}");
                var pf = await full.RunAsync(fastPlans[2 * (rep + warmUps) + 1], null, ct, prepared: true);
                Require(pf.Outcome == StreamEventKind.Finished && pf.Tokens == o.ThroughputTokens, $"prepared: {pf.Outcome} {pf.Tokens} tokens {pf.Error}");
                if (rep < 0) continue;
                preparedTps.Add(o.ThroughputTokens / Seconds(pf.EndTicks - pf.StartTicks));
                directTps.Add(o.ThroughputTokens / Seconds(d.EndTicks - d.StartTicks));
                fullTps.Add(o.ThroughputTokens / Seconds(f.EndTicks - f.StartTicks));
                directRelay.Add(o.ThroughputTokens / Seconds(d.EndTicks - d.FirstTokenTicks));
                fullRelay.Add(o.ThroughputTokens / Seconds(f.EndTicks - f.FirstChunkTicks));
                fullTell.Add(Ms(f.TellDoneTicks - f.StartTicks));
                fullToLast.Add(o.ThroughputTokens / Seconds(f.LastChunkTicks - f.StartTicks));
                preparedToLast.Add(o.ThroughputTokens / Seconds(pf.LastChunkTicks - pf.StartTicks));
                directToLast.Add(o.ThroughputTokens / Seconds(d.LastTokenTicks - d.StartTicks));
                StreamHarness.Log($"   rep {rep + 1}: direct {directTps[^1]:N0} tok/s, full {fullTps[^1]:N0} tok/s ({f.Chunks} chunks, the first with {f.FirstChunkTokens} tokens; full: tell {Ms(f.TellDoneTicks - f.StartTicks):N1} ms, "
                    + $"first chunk +{Ms(f.FirstChunkTicks - f.TellDoneTicks):N1}, first→last {Ms(f.LastChunkTicks - f.FirstChunkTicks):N1}, last→end {Ms(f.EndTicks - f.LastChunkTicks):N1}; "
                    + $"direct: first {Ms(d.FirstTokenTicks - d.StartTicks):N1}, first→last {Ms(d.LastTokenTicks - d.FirstTokenTicks):N1})");
            }
            report.Throughput(Median(fullTps), Median(preparedTps), Median(directTps), fullTps, directTps, Median(fullRelay), Median(directRelay), Median(fullTell), load1 + " → " + StreamHarness.LoadAverage());
            StreamHarness.Log($"   to the last token: full {Median(fullToLast):N0}, prepared {Median(preparedToLast):N0}, direct {Median(directToLast):N0} tok/s ({Median(fullToLast) / Median(directToLast):N2}×, {Median(preparedToLast) / Median(directToLast):N2}×)");
        }

        // ---- 2. time to first token
        if (o.Runs("ttft"))
        {
            // Warm-up as for throughput (JIT settles after 5–6 s of activity), unless the throughput part just did it.
            var warm = o.Quick || o.Runs("throughput");
            var ttftWarmUps = warm ? 60 : 300; // fresh plans are made for each: no more than the warm-up can use
            var ttftWarmFor = TimeSpan.FromSeconds(warm ? 0.5 : 8);
            StreamHarness.Log($"2. time to first token: {o.TtftStreams} sequential short streams (after {ttftWarmFor.TotalSeconds:N1} s of warm-ups)");
            const string shortModel = "stub-tokens=3";
            var shortPlans = await Plans(2 * (o.TtftStreams + ttftWarmUps), shortModel); // fresh plans: see throughput
            var fullTtft = new List<double>();
            var preparedTtft = new List<double>();
            var directTtft = new List<double>();
            var tellMs = new List<double>();
            var load2 = StreamHarness.LoadAverage();
            var ttftWarming = Stopwatch.StartNew();
            for (var i = -ttftWarmUps; i < o.TtftStreams; i++)
            {
                if (i < 0 && ttftWarming.Elapsed > ttftWarmFor) i = 0;
                var d = await direct.ReadAsync(shortModel, null, ct);
                var f = await full.RunAsync(shortPlans[2 * (i + ttftWarmUps)], null, ct);
                Require(f.Outcome == StreamEventKind.Finished && f.Tokens == 3, $"short stream: {f.Outcome} {f.Error}");
                var pf = await full.RunAsync(shortPlans[2 * (i + ttftWarmUps) + 1], null, ct, prepared: true);
                Require(pf.Outcome == StreamEventKind.Finished && pf.Tokens == 3, $"short prepared stream: {pf.Outcome} {pf.Error}");
                if (i < 0) continue;
                directTtft.Add(Ms(d.FirstTokenTicks - d.StartTicks));
                fullTtft.Add(Ms(f.FirstChunkTicks - f.StartTicks));
                preparedTtft.Add(Ms(pf.FirstChunkTicks - pf.StartTicks));
                tellMs.Add(Ms(f.TellDoneTicks - f.StartTicks));
            }
            report.Ttft(fullTtft, preparedTtft, directTtft, tellMs, load2 + " → " + StreamHarness.LoadAverage());
        }

        if (!o.Runs("concurrency"))
        {
            Console.WriteLine();
            Console.WriteLine(report.Markdown());
            return 0;
        }

        // ---- 3. concurrency
        StreamHarness.Log($"3. concurrency: {o.PacedModel} (50 tokens/s), start {o.Streams}, up to {o.Max}");
        var pacedPlans = new List<Guid>();
        // --user-per-stream: every paced stream is its own user (account, org, session token), as on a real server;
        // one client connection still carries them all, each call with its stream's token, unless --clients spreads
        // them over N connections (stream i on connection i mod N; a real server has a connection per user).
        var pacedTokens = o.UserPerStream ? new List<string>() : null;
        var connections = new List<PlandexClient>();
        for (var c = 0; o.UserPerStream && c < o.Clients; c++)
            connections.Add(await PlandexClient.ConnectAsync(new PlandexClientOptions { Server = gateway, ClusterId = h.ClusterId, ResponseTimeout = TimeSpan.FromSeconds(30) }, ct));
        await using var closeConnections = new AsyncDisposables(connections);
        var anonymous = connections.FirstOrDefault();
        IReadOnlyList<FullPath> fullPerUser = anonymous is null ? [full] : connections.Select(c => new FullPath(c, endpoint, key)).ToList();
        async Task EnsurePlans(int n)
        {
            if (pacedPlans.Count >= n) return;
            var sw = Stopwatch.StartNew();
            if (pacedTokens is null) pacedPlans.AddRange(await Plans(n - pacedPlans.Count, o.PacedModel));
            else
            {
                var made = new ConcurrentBag<(Guid Plan, string Token)>();
                await Parallel.ForEachAsync(Enumerable.Range(0, n - pacedPlans.Count), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (_, _) =>
                {
                    var user = await anonymous!.SignUpAsync(new SignUpRequest($"bench-{Guid.NewGuid():N}@example.com", "Bench"));
                    Orleans.Runtime.RequestContext.Set(AuthContextKeys.SessionToken, user.Token); // this flow's calls are that user's
                    var p = await anonymous.Org(user.OrgId).CreatePlan("b-" + Guid.NewGuid().ToString("N")[..10]);
                    await anonymous.Plan(p.PlanId).SetModel(new ModelSettings("openai", o.PacedModel));
                    made.Add((p.PlanId, user.Token));
                });
                foreach (var (plan, token) in made) { pacedPlans.Add(plan); pacedTokens.Add(token); }
            }
            StreamHarness.Log($"   {pacedPlans.Count} paced plans ready{(pacedTokens is null ? "" : ", one user each")} ({sw.Elapsed.TotalSeconds:N1} s)");
        }
        IReadOnlyList<string>? TokensFor(int n) => pacedTokens?.Take(n).ToList();
        await EnsurePlans(o.Streams);
        // Warm-up: JIT, connection pools, thread pool, before the idle memory baseline.
        StreamHarness.Log("   warm-up: 200 concurrent paced streams");
        await Concurrent(h, fullPerUser, direct, pacedPlans.Take(Math.Min(200, o.Streams)).ToList(), o, viaSilo: true, ct, TokensFor(Math.Min(200, o.Streams)));
        await Concurrent(h, fullPerUser, direct, pacedPlans.Take(Math.Min(200, o.Streams)).ToList(), o, viaSilo: false, ct);

        var counts = new List<int> { o.Streams };
        for (var n = Math.Max(o.Streams + o.Step, RoundUp(o.Streams + 1, o.Step)); n <= o.Max; n += o.Step) counts.Add(n);
        foreach (var n in counts)
        {
            await EnsurePlans(n);
            var viaSilo = await Concurrent(h, fullPerUser, direct, pacedPlans.Take(n).ToList(), o, viaSilo: true, ct, TokensFor(n));
            var viaDirect = await Concurrent(h, fullPerUser, direct, pacedPlans.Take(n).ToList(), o, viaSilo: false, ct);
            report.Concurrency(n, viaSilo, viaDirect);
            if (!viaSilo.MeetsGoal) { StreamHarness.Log($"   {n} streams missed the goal: stopping the search"); break; }
            if (Silo(h) is false) break;
        }

        Console.WriteLine();
        Console.WriteLine(report.Markdown());
        return 0;
    }

    private static bool Silo(StreamHarness h) => !h.Silo.HasExited;

    private static int RoundUp(int n, int step) => (n + step - 1) / step * step;

    /// <summary>Result of N concurrent paced streams, via the silo or direct.</summary>
    internal sealed record ConcurrentResult(
        int Count, int Completed, double GapP50, double GapP99, double GapMax, double TtftP50, double TtftP99,
        double StartSpreadS, double WallS, long IdleRss, long PeakRss, double SiloCpuPct, double StubCpuPct, string Load, string? FirstError,
        double SteadyGapP99 = double.NaN, int PeakRunning = 0, int RunningAtRampEnd = 0)
    {
        // N streams on one silo means N running at once: a ramp longer than a stream (20 s) never reaches N, and its
        // "after the ramp" figure then covers only the streams still running.
        public bool MeetsGoal => Completed == Count && GapP99 <= 100 && PeakRunning == Count;
        public double KbPerStream => (PeakRss - IdleRss) / 1024.0 / Count;
    }

    private static async Task<ConcurrentResult> Concurrent(StreamHarness h, IReadOnlyList<FullPath> fulls, DirectStubReader direct, List<Guid> plans,
        Options o, bool viaSilo, CancellationToken ct, IReadOnlyList<string>? tokens = null)
    {
        var n = plans.Count;
        StreamHarness.Log($"   {(viaSilo ? "full path" : "direct   ")} × {n}: running");
        // Every stream's gap record is made before the clock and collected into the oldest generation. Made by each
        // stream as it started (12 KB each), the records were most of what the driver's collections copied during the
        // ramp (~30 MB at 1,500 streams: pauses that delay every chunk the driver timestamps). A user's client keeps no
        // such record, so the measurement should not pay for it.
        var gaps = new float[n][];
        var gapAt = new long[n][]; // arrival time of each gap's second chunk: gaps after the ramp are told apart
        var gapCount = new int[n];
        for (var i = 0; i < n; i++) (gaps[i], gapAt[i]) = (new float[o.PacedTokens], new long[o.PacedTokens]);
        for (var pass = 0; pass < 2; pass++) GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true); // gen0 → gen1 → gen2
        await SettleAsync(h, ct);
        var siloPid = h.Silo.Id;
        var idle = StreamHarness.Rss(siloPid);
        var load = StreamHarness.LoadAverage();
        var cpu0 = StreamHarness.CpuSeconds(siloPid);
        var stubCpu0 = StreamHarness.CpuSeconds(h.Stub.Id);
        var driverCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var (driverGcs0, driverPause0) = (GC.CollectionCount(0), GC.GetTotalPauseDuration()); // the load driver's own GC
        long peak = idle;
        // The silo's GC (System.Runtime meter): collections and pause time over the run, and the most paused second.
        const string pauseMetric = "dotnet_gc_pause_time_seconds", collections = "dotnet_gc_collections";
        var m0 = await h.MetricsAsync();
        var gc0 = (Pause: m0.Sum(pauseMetric), Gen2: m0.Sum(collections, "gen2"), All: m0.Sum(collections));
        double worstPauseSecond = double.NaN;
        // The most paused second needs a scrape of the silo's metrics every second, which costs the silo a few per cent
        // of its CPU at 1,000 streams (the runtime's observable gauges walk the grain directory): only when asked for.
        var perSecondGc = viaSilo && Environment.GetEnvironmentVariable("BENCH_GC_PER_SECOND") == "1";
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            var lastPause = gc0.Pause;
            for (var tick = 1; !sampling.IsCancellationRequested; tick++)
            {
                try { peak = Math.Max(peak, StreamHarness.Rss(siloPid)); } catch (IOException) { }
                if (perSecondGc && tick % 5 == 0)
                {
                    try { var p = await h.MetricAsync(pauseMetric); worstPauseSecond = double.IsNaN(worstPauseSecond) ? p - lastPause : Math.Max(worstPauseSecond, p - lastPause); lastPause = p; }
                    catch (HttpRequestException) { }
                }
                try { await Task.Delay(200, sampling.Token); } catch (OperationCanceledException) { }
            }
        });

        var ttft = new double[n];
        var ok = new bool[n];
        var (startedAt, endedAt) = (new long[n], new long[n]); // each stream's start (its tell answered, or the direct request sent) and end
        string? firstError = null;
        // How many tells are in flight at once while ramping up. The silo starts ~400 a second on this machine with 16
        // or 64 in flight alike; more in flight only makes each wait longer (TTFT p50 ~50 vs ~180 ms) and, since one
        // process plays every user, makes the driver's own start work (sealing, subscribing) delay the chunks it
        // timestamps for the streams already running. 1,000 real users pressing enter at that rate would have ~16 tells
        // waiting at once. BENCH_RAMP_INFLIGHT=64 gives the harsher closed loop of earlier landings (PERF-NOTES).
        var inFlight = int.TryParse(Environment.GetEnvironmentVariable("BENCH_RAMP_INFLIGHT"), NumberStyles.None, Inv, out var configured) && configured > 0 ? configured : 16;
        var gate = new SemaphoreSlim(inFlight);
        long lastStarted = 0;
        var t0 = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(o.PacedTokens / 50.0 * 3 + 120));
        var tasks = Enumerable.Range(0, n).Select(i => Task.Run(async () =>
        {
            long last = 0;
            void OnChunk(long ts)
            {
                if (last != 0)
                {
                    var k = gapCount[i]++;
                    if (k == gaps[i].Length) { Array.Resize(ref gaps[i], k * 2); Array.Resize(ref gapAt[i], k * 2); } // more chunks than tokens: not expected
                    (gaps[i][k], gapAt[i][k]) = ((float)Ms(ts - last), ts);
                }
                last = ts;
            }
            try
            {
                if (viaSilo)
                {
                    if (tokens is not null) Orleans.Runtime.RequestContext.Set(AuthContextKeys.SessionToken, tokens[i]); // the stream's own user
                    var r = await fulls[i % fulls.Count].RunAsync(plans[i], OnChunk, timeout.Token, gate, () => Interlocked.Exchange(ref lastStarted, startedAt[i] = Stopwatch.GetTimestamp()));
                    ok[i] = r.Outcome == StreamEventKind.Finished && r.Tokens == o.PacedTokens;
                    ttft[i] = Ms(r.FirstChunkTicks - r.StartTicks);
                    if (!ok[i]) Interlocked.CompareExchange(ref firstError, $"{r.Outcome} {r.Tokens} tokens {r.Error}", null);
                }
                else
                {
                    await gate.WaitAsync(timeout.Token);
                    var task = direct.ReadAsync(o.PacedModel, OnChunk, timeout.Token);
                    gate.Release();
                    Interlocked.Exchange(ref lastStarted, startedAt[i] = Stopwatch.GetTimestamp());
                    var r = await task;
                    ok[i] = r.Done && r.Tokens == o.PacedTokens;
                    ttft[i] = Ms(r.FirstTokenTicks - r.StartTicks);
                    if (!ok[i]) Interlocked.CompareExchange(ref firstError, $"direct {r.Tokens} tokens", null);
                }
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Interlocked.CompareExchange(ref firstError, e.GetType().Name + ": " + e.Message, null);
            }
            endedAt[i] = Stopwatch.GetTimestamp();
        })).ToArray();
        await Task.WhenAll(tasks);
        var wall = Seconds(Stopwatch.GetTimestamp() - t0);
        sampling.Cancel();
        await sampler;
        var cpu = (StreamHarness.CpuSeconds(siloPid) - cpu0) / wall * 100;
        var stubCpu = (StreamHarness.CpuSeconds(h.Stub.Id) - stubCpu0) / wall * 100;
        var driverCpu = (Process.GetCurrentProcess().TotalProcessorTime - driverCpu0).TotalSeconds / wall * 100;
        var driverGc = $", load driver GC: {GC.CollectionCount(0) - driverGcs0:N0} collections, paused {(GC.GetTotalPauseDuration() - driverPause0).TotalMilliseconds:N0} ms in all";
        var m1 = viaSilo ? await h.MetricsAsync() : null;
        var gcNote = m1 is not null
            ? $", silo GC: {m1.Sum(collections) - gc0.All:N0} collections ({m1.Sum(collections, "gen2") - gc0.Gen2:N0} gen2), "
              + $"paused {(m1.Sum(pauseMetric) - gc0.Pause) * 1000:N0} ms in all"
              + (perSecondGc ? $", at most {worstPauseSecond * 1000:N0} ms within one second" : "")
            : "";
        for (var i = 0; i < n; i++) (gaps[i], gapAt[i]) = (gaps[i][..gapCount[i]], gapAt[i][..gapCount[i]]);
        var all = gaps.SelectMany(x => x).ToArray();
        if (Environment.GetEnvironmentVariable("BENCH_GAPS_DUMP") is { Length: > 0 } dump && viaSilo)
        {
            File.WriteAllText($"{dump}.{n}.t0", (t0 * 1000.0 / Stopwatch.Frequency).ToString("F1", Inv));
            File.WriteAllLines($"{dump}.{n}", gaps.SelectMany((x, i) => x.Select((gap, j) => $"{Ms(gapAt[i][j] - t0):F1} {gap:F1} {i} {j}")));
        }
        var rampEnd = Interlocked.Read(ref lastStarted);
        var (peakRunning, runningAtRampEnd) = Running(startedAt, endedAt, rampEnd);
        var steady = gaps.SelectMany((x, i) => x.Where((_, j) => gapAt[i][j] > rampEnd)).ToArray();
        Array.Sort(steady);
        Array.Sort(all);
        var ttfts = ttft.Where((_, i) => ok[i]).ToArray();
        Array.Sort(ttfts);
        var result = new ConcurrentResult(n, ok.Count(x => x), P(all, 50), P(all, 99), all.Length == 0 ? double.NaN : all[^1],
            P(ttfts, 50), P(ttfts, 99), Seconds(Interlocked.Read(ref lastStarted) - t0), wall, idle, peak, cpu, stubCpu,
            load + " → " + StreamHarness.LoadAverage(), firstError, P(steady, 99), peakRunning, runningAtRampEnd);
        StreamHarness.Log($"   {(viaSilo ? "full path" : "direct   ")} × {n}: {result.Completed}/{n} complete, gap p50 {result.GapP50:N1} p99 {result.GapP99:N1} (after the ramp {result.SteadyGapP99:N1}) max {result.GapMax:N0} ms, "
            + $"running at once: at most {peakRunning:N0}, {runningAtRampEnd:N0} at the ramp's end, ttft p50 {result.TtftP50:N1} ms, ramp {result.StartSpreadS:N1} s, wall {wall:N1} s, silo RSS {idle / 1048576.0:N0}→{peak / 1048576.0:N0} MiB "
            + $"({result.KbPerStream:N1} KB/stream), silo CPU {cpu:N0}%, stub CPU {stubCpu:N0}%, load driver CPU {driverCpu:N0}%{gcNote}{driverGc}, load {result.Load}"
            + (firstError is null ? "" : $"; first error: {firstError}"));
        return result;
    }

    /// <summary>The most streams running at once (started and not yet ended), and how many ran at <paramref name="at"/>.</summary>
    private static (int Peak, int At) Running(long[] startedAt, long[] endedAt, long at)
    {
        var events = new List<(long Ticks, int Delta)>();
        for (var i = 0; i < startedAt.Length; i++)
            if (startedAt[i] != 0) events.AddRange([(startedAt[i], 1), (endedAt[i], -1)]);
        events.Sort(); // at equal ticks the end (-1) sorts first: a stream ending as another starts is not an overlap
        var (running, peak) = (0, 0);
        foreach (var (_, delta) in events) peak = Math.Max(peak, running += delta);
        var atRampEnd = Enumerable.Range(0, startedAt.Length).Count(i => startedAt[i] != 0 && startedAt[i] <= at && endedAt[i] > at);
        return (peak, atRampEnd);
    }

    /// <summary>Waits until no stream session is active on the silo, then lets it go quiet for a moment.</summary>
    private static async Task SettleAsync(StreamHarness h, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(90) && await h.MetricAsync("plandex_sessions_active") > 0) await Task.Delay(250, ct);
        await Task.Delay(3000, ct);
    }

    /// <summary>One tell + watch through the real client.</summary>
    internal sealed class FullPath(PlandexClient client, string endpoint, byte[] key)
    {
        public sealed record Result(StreamEventKind Outcome, int Tokens, int Chunks, long StartTicks, long TellDoneTicks,
            long FirstChunkTicks, long LastChunkTicks, long EndTicks, string? Error, int FirstChunkTokens = 0);

        /// <param name="prepared">The tell is prepared (<c>PrepareTellAsync</c>: BeginTell and sealing) before the clock
        /// starts, as the CLI does while a prompt is typed; the clock then runs from the prepared tell's call.</param>
        public async Task<Result> RunAsync(Guid planId, Action<long>? onChunk, CancellationToken ct, SemaphoreSlim? gate = null,
            Action? started = null, bool prepared = false)
        {
            if (gate is not null) await gate.WaitAsync(ct);
            long start, tellDone;
            IAsyncEnumerable<StreamEvent> events;
            try
            {
                var ready = prepared ? await client.Streams.PrepareTellAsync(planId, endpoint, (byte[])key.Clone()) : null;
                start = Stopwatch.GetTimestamp();
                events = ready is not null
                    ? await client.Streams.TellWatchingAsync(ready, "hello", ct)
                    : await client.Streams.TellWatchingAsync(planId, "hello", endpoint, (byte[])key.Clone(), ct);
                tellDone = Stopwatch.GetTimestamp();
            }
            finally { gate?.Release(); }
            started?.Invoke();
            long first = 0, last = 0;
            int tokens = 0, chunks = 0, firstTokens = 0;
            await foreach (var e in events)
            {
                switch (e.Kind)
                {
                    case StreamEventKind.Chunk:
                        var now = Stopwatch.GetTimestamp();
                        if (first == 0) first = now;
                        last = now;
                        onChunk?.Invoke(now);
                        chunks++;
                        foreach (var c in e.Text.AsSpan()) if (c == ' ') tokens++;
                        if (chunks == 1) firstTokens = tokens;
                        break;
                    case StreamEventKind.Started or StreamEventKind.Heartbeat:
                        break;
                    default:
                        return new Result(e.Kind, tokens, chunks, start, tellDone, first, last, Stopwatch.GetTimestamp(), e.Text, firstTokens);
                }
            }
            return new Result(StreamEventKind.Error, tokens, chunks, start, tellDone, first, last, Stopwatch.GetTimestamp(), "watch ended without an end event");
        }
    }

    /// <summary>Collects the figures and prints the README table.</summary>
    private sealed class Report(Options o, string command, MachineCosts.Result machine)
    {
        private readonly List<string> _rows = [];
        private readonly List<string> _concurrency = [];
        private readonly List<string> _notes = [];
        private int _best;
        private int _largestTried; // the search stops at the first count that misses, which may be below --max

        public void Throughput(double full, double prepared, double direct, List<double> fulls, List<double> directs, double fullRelay, double directRelay, double tellMs, string load)
        {
            var ratio = full / direct;
            _rows.Add($"| Single-stream throughput ({o.ThroughputTokens:N0} tokens, interval 0; median of {o.ThroughputReps}) | {full:N0} tok/s | {direct:N0} tok/s | "
                + $"{ratio:N2}× direct | ≥ 0.8× | {(ratio >= 0.8 ? "✅" : "❌")} | {load} |");
            _rows.Add($"| Single-stream throughput, prepared tell (as above, one more stream per rep) | {prepared:N0} tok/s | {direct:N0} tok/s | "
                + $"{prepared / direct:N2}× direct | ≥ 0.8× | {(prepared / direct >= 0.8 ? "✅" : "❌")} | |");
            _notes.Add($"Throughput runs (tok/s): full [{string.Join(", ", fulls.Select(x => x.ToString("N0", Inv)))}], direct [{string.Join(", ", directs.Select(x => x.ToString("N0", Inv)))}]; whole stream = request issued → end event. "
                + $"From the first chunk to the end (relay only, excluding the start): full {fullRelay:N0} tok/s vs direct {directRelay:N0} tok/s ({fullRelay / directRelay:N2}×); "
                + $"the start (`TellAsync`) took a median {tellMs:N1} ms of each full-path run.");
        }

        public void Start(List<double[]> steps)
        {
            string M(int c) => Median(steps.Select(x => x[c]).ToList()).ToString("N2", Inv);
            _notes.Add($"The start, step by step (medians of {steps.Count} sequential tells on fresh plans, each step awaited alone, so they add up to more than a pipelined tell): "
                + $"any client call (`Describe`: session check in PostgreSQL, membership, round trip) {M(0)} ms; `BeginTell` (+ session activation and key pair) {M(1)} ms; "
                + $"sealing the key on the client {M(2)} ms; `Tell` (+ unseal, provider connection opened) {M(3)} ms; then the pull `Watch`'s first event {M(4)} ms and the first chunk {M(5)} ms after `Tell` returned.");
        }

        public void Ttft(List<double> full, List<double> prepared, List<double> direct, List<double> tell, string load)
        {
            var pr = prepared.Order().ToArray();
            var f = full.Order().ToArray();
            var d = direct.Order().ToArray();
            var t = tell.Order().ToArray();
            var addedMedian = P(f, 50) - P(d, 50);
            var addedP99 = P(f, 99) - P(d, 99);
            _rows.Add($"| Time to first token, median ({f.Length} sequential streams) | {P(f, 50):N2} ms | {P(d, 50):N2} ms | +{addedMedian:N2} ms | ≤ +2 ms | {(addedMedian <= 2 ? "✅" : "❌")} | {load} |");
            _rows.Add($"| Time to first token, p99 | {P(f, 99):N2} ms | {P(d, 99):N2} ms | +{addedP99:N2} ms | – | | |");
            var preparedMedian = P(pr, 50) - P(d, 50);
            _rows.Add($"| Time to first token, median, prepared tell ({pr.Length} more streams) | {P(pr, 50):N2} ms | {P(d, 50):N2} ms | +{preparedMedian:N2} ms | ≤ +2 ms | {(preparedMedian <= 2 ? "✅" : "❌")} | |");
            _rows.Add($"| Time to first token, p99, prepared tell | {P(pr, 99):N2} ms | {P(d, 99):N2} ms | +{P(pr, 99) - P(d, 99):N2} ms | – | | |");
            _notes.Add($"TTFT = from the call that starts the stream (client `TellWatchingAsync` / `HttpClient.SendAsync`) to the first chunk with text received; "
                + $"added = full − direct of the same percentile. Of the full-path median, `TellWatchingAsync` (BeginTell, then Subscribe sent while the key is sealed and Tell runs; events are pushed) took {P(t, 50):N2} ms (p99 {P(t, 99):N2}). "
                + "A prepared tell (`PrepareTellAsync`: BeginTell and sealing done before the clock starts, as `plandex tell` does while it reads the prompt) "
                + "is measured from `TellWatchingAsync(prepared, prompt)`: Subscribe and Tell, one round trip; each iteration runs direct, plain, prepared in turn.");
        }

        public void Concurrency(int n, ConcurrentResult s, ConcurrentResult d)
        {
            if (s.MeetsGoal) _best = Math.Max(_best, n);
            _largestTried = Math.Max(_largestTried, n);
            _concurrency.Add($"| {n:N0} | {s.Completed:N0}/{n:N0} | {s.GapP50:N1} / {s.GapP99:N1} / {s.GapMax:N0} | {d.Completed:N0}/{n:N0} | {d.GapP50:N1} / {d.GapP99:N1} / {d.GapMax:N0} | "
                + $"{s.TtftP50:N1} / {d.TtftP50:N1} | {s.IdleRss / 1048576.0:N0} → {s.PeakRss / 1048576.0:N0} MiB = {s.KbPerStream:N1} KB | {s.SiloCpuPct:N0}% / {s.StubCpuPct:N0}% | "
                + $"{(s.MeetsGoal && s.KbPerStream <= 50 ? "✅" : s.MeetsGoal ? "⚠️ mem" : "❌")} | {s.Load} |");
            _notes.Add($"{n} streams: p99 gap counting only chunks that arrived after the last stream had started (the ramp took {s.StartSpreadS:N1} s; "
                + $"{s.RunningAtRampEnd:N0} streams still running then via the silo, {d.RunningAtRampEnd:N0} direct): via silo {s.SteadyGapP99:N1} ms, direct {d.SteadyGapP99:N1} ms. "
                + $"At most {s.PeakRunning:N0} ran at once via the silo, {d.PeakRunning:N0} direct" + (s.PeakRunning < n ? $": the silo never carried all {n:N0} at once (the goal counts as missed)." : "."));
            if (s.FirstError is not null) _notes.Add($"{n} streams via the silo, first error: {s.FirstError}");
            if (d.FirstError is not null) _notes.Add($"{n} streams direct, first error: {d.FirstError}");
        }

        public string Markdown()
        {
            var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
            var memKb = long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], Inv);
            var sb = new StringBuilder();
            sb.AppendLine("### Stream benchmark");
            sb.AppendLine();
            sb.AppendLine($"Machine: {Environment.ProcessorCount} cores ({cpu}), {memKb / 1048576.0:N1} GiB RAM, {RuntimeInformation.OSDescription}, .NET {Environment.Version}; "
                + "one silo (Release, workstation GC), provider stub (own process), PostgreSQL and the load driver all on this machine. "
                + (o.Tls ? "The stub serves HTTPS (`--tls`: a self-signed certificate; the silo trusts it through its own OpenSSL binding, the direct reader through SslStream). " : "")
                + $"Load average (1/5/15 min) is given before → after each measurement; final: {StreamHarness.LoadAverage()}. "
                + $"Before the run, {machine} (`-- machine`).");
            sb.AppendLine();
            sb.AppendLine($"Command: `{command}`");
            sb.AppendLine();
            sb.AppendLine("| Measure | Full path (client → silo → stub) | Direct (HttpClient → stub) | Full vs direct | Goal | Met | Load |");
            sb.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var r in _rows) sb.AppendLine(r);
            sb.AppendLine();
            var window = new Plandex.Grains.Providers.ProvidersOptions(); // the silo runs the shipped defaults
            sb.AppendLine($"Concurrent streams, stub paced like a real model: {o.PacedTokens:N0} tokens at 50 tokens/s ({o.PacedTokens / 50} s per stream). "
                + $"Gap = time between consecutive chunk arrivals at the client (the silo batches chunks over a {window.BatchWindow.TotalMilliseconds:N0} ms window, "
                + $"widening to {window.BatchWindowLoaded.TotalMilliseconds:N0} ms as its streams approach {window.BatchWindowLoadedAt:N0}; direct sees every token). "
                + "Memory = silo VmRSS at idle after warm-up (plans already created and active) vs the peak sampled every 200 ms during the run, difference ÷ streams.");
            sb.AppendLine();
            sb.AppendLine("| Streams | Via silo: complete | Via silo: gap p50 / p99 / max (ms) | Direct: complete | Direct: gap p50 / p99 / max (ms) | TTFT p50 silo / direct (ms) | Silo RSS idle → peak = per stream | CPU silo / stub | Goal (all complete, p99 ≤ 100 ms, ≤ 50 KB) | Load |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in _concurrency) sb.AppendLine(r);
            sb.AppendLine();
            sb.AppendLine(_best > 0
                ? $"Largest tested count meeting the p99 goal: **{_best:N0}** concurrent streams (tested up to {_largestTried:N0}; the search stops at the first count that misses)."
                : "No tested count met the p99 goal.");
            foreach (var n in _notes) sb.AppendLine().Append("- ").Append(n);
            sb.AppendLine();
            return sb.ToString();
        }
    }

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }

    private static double P(IReadOnlyList<double> sorted, double pct) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(pct / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    private static double P(float[] sorted, double pct) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(pct / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Median(List<double> values) => P(values.Order().ToArray(), 50);
    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
}

/// <summary>Disposes the benchmark's extra client connections at the end of the part that made them.</summary>
internal sealed class AsyncDisposables(IEnumerable<IAsyncDisposable> items) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        foreach (var item in items) await item.DisposeAsync();
    }
}
