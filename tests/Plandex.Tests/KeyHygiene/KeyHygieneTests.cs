using System.Diagnostics;
using System.Text;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;
using static Plandex.Tests.KeyHygiene.KeyWorld;

namespace Plandex.Tests.KeyHygiene;

/// <summary>
/// The promise: "API keys are only stored ephemerally in RAM while they are in active use. They are never written to
/// disk, logged, or stored in a database. As soon as a plan stream ends, the API key is removed from memory and no
/// longer exists anywhere on our servers."
///
/// A random canary key goes through every way a stream can end (finished, stopped, each provider error, a key-echoing
/// error body, a dropped and a stalled connection, the session's silo killed; and over TLS, to a stub whose test
/// certificate the silos trust, a finished, a stopped, a refused and a key-echoing stream) on two silos with
/// everything logged at Trace and traces exported to an in-test collector. Afterwards the canary is searched, in every encoding, in the
/// database (pg_dump and PostgreSQL's files), the logs, the exported traces, /metrics, the silos' files and full
/// memory dumps of the silos. The control run shows the memory scan does find a key that is kept as a string.
/// These tests share a class so they never run at the same time (memory dumps are large).
/// </summary>
[Collection(ExclusiveCollection.Name)]
public sealed class KeyHygieneTests(ITestOutputHelper output)
{
    private static Dictionary<string, string> TraceSettings(string otlpEndpoint, string? trustedCertificates = null)
    {
        var settings = TraceSettings(otlpEndpoint);
        // The TLS stub's certificate is then the silo's only trusted root.
        if (trustedCertificates is not null) settings["env:SSL_CERT_FILE"] = trustedCertificates;
        return settings;
    }

    private static Dictionary<string, string> TraceSettings(string otlpEndpoint) => new()
    {
        ["Logging:LogLevel:Default"] = "Trace",
        ["Logging:LogLevel:Orleans"] = "Trace",
        ["Logging:LogLevel:Microsoft"] = "Trace",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Trace",
        ["Logging:LogLevel:Polly"] = "Trace",
        ["Telemetry:OtlpEndpoint"] = otlpEndpoint,
        // Read by the OpenTelemetry SDK from configuration (PLANDEX_ prefix stripped): export spans every 500 ms.
        ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
        ["Providers:AllowLoopback"] = "true",
        ["Providers:StallTimeout"] = "00:00:02",
        // Sessions at random, not next to their plans: the streams (and so the key) then reach both live silos
        // whatever silos the plans land on, and both are searched. A session handles the key the same either way.
        ["Providers:SessionsNextToPlans"] = "false",
    };

    [Fact]
    public async Task Canary_key_is_nowhere_on_the_servers_after_its_streams_end()
    {
        var total = Stopwatch.StartNew();
        var canary = CanaryScanner.NewCanary();
        var scanner = new CanaryScanner(canary);
        var keyHash = ProviderStubServer.HashCredential(canary);
        // A positive control for the database scans: the prompts are stored (as bytea), the key must not be.
        var promptMarker = "kh-prompt-" + Guid.NewGuid().ToString("N");
        var promptScanner = new CanaryScanner(promptMarker);
        var measures = new Measurements();

        await using var stub = await ProviderStubServer.StartAsync();
        var endpoint = stub.BaseUrl + "v1";
        // Every real provider is reached over TLS, and a provider connection is kept (with its TLS state) for the
        // next stream: some streams go to a TLS stub, and their connections are still pooled when memory is dumped.
        using var certificate = new LoopbackCertificate(TestEnv.NewWorkDir("kh-tls"));
        await using var tlsStub = await ProviderStubServer.StartAsync(tls: certificate.Certificate);
        var tlsEndpoint = tlsStub.BaseUrl + "v1";
        await using var collector = OtlpCollector.Start();
        await using var db = await TestDatabase.CreateAsync();
        var starting = new[] { SiloProcess.StartAsync(db, "kh-a", TraceSettings(collector.Endpoint, certificate.PemPath)),
                               SiloProcess.StartAsync(db, "kh-b", TraceSettings(collector.Endpoint, certificate.PemPath)) };
        SiloProcess[] ready;
        try { ready = await Task.WhenAll(starting); }
        catch
        {
            foreach (var t in starting) if (t.IsCompletedSuccessfully) await (await t).DisposeAsync();
            throw;
        }
        await using var a = ready[0];
        await using var b = ready[1];
        var silos = new[] { a, b };
        output.WriteLine($"silos ready after {total.ElapsedMilliseconds} ms; canary forms: {string.Join(" | ", scanner.Forms)}");

        SignInResult user;
        await using (var anon = await SiloProcess.ConnectAsync(silos))
            user = await anon.SignUpAsync(new SignUpRequest("key-hygiene@example.com", "Key Hygiene"));
        Scenario S(string name, string provider, string parameters, StreamEventKind expected, bool stop = false) =>
            new(name, provider, StubModel(name, parameters), expected, stop);
        var runs = new List<StreamRun>();

        // Phase 1: the session's silo is killed mid-stream. Which silo runs the session is read from the
        // plandex_streams_started counters (counted in StreamSessionGrain.Start), so the kill always hits it.
        // A third silo starts right after the kill, so the other streams again run on two silos. The kill comes
        // first because a memory dump pauses a silo for seconds, long enough for the other to vote it dead:
        // the dumps therefore come last, when nothing else needs the cluster.
        var killScenario = S("killed", "openai", "tokens=3000-interval=10ms", StreamEventKind.Error);
        var before = new List<double>();
        foreach (var s in silos) before.Add(await s.MetricAsync("plandex_streams_started"));
        SiloProcess? victim = null;
        Task<SiloProcess>? startingC = null;
        var killedAt = Stopwatch.StartNew();
        StreamRun killRun;
        await using (var firstClient = await SiloProcess.ConnectAsync(silos, user.Token))
        {
            killRun = await RunAsync(firstClient, user.OrgId, killScenario, endpoint, canary, $"{promptMarker} killed", async e =>
            {
                if (victim is not null || e.Kind != StreamEventKind.Chunk) return;
                for (var i = 0; i < silos.Length; i++)
                    if (await silos[i].MetricAsync("plandex_streams_started") > before[i]) victim = silos[i];
                Assert.NotNull(victim);
                victim!.Kill();
                killedAt.Restart();
                startingC = SiloProcess.StartAsync(db, "kh-c", TraceSettings(collector.Endpoint, certificate.PemPath));
            }, TimeSpan.FromSeconds(90));
        }
        Assert.NotNull(victim);
        Assert.NotNull(startingC);
        await using var c = await startingC;
        var survivor = silos.Single(s => s != victim);
        output.WriteLine($"killed {victim.Name} (the session's silo); the stream ended {killedAt.ElapsedMilliseconds} ms later: {killRun.Last.Kind} {killRun.Last.Text}");
        Console.WriteLine($"[measure] key hygiene: session silo kill -9 to the stream's end event: {killedAt.ElapsedMilliseconds} ms");
        Assert.Equal(StreamEventKind.Error, killRun.Last.Kind);
        var killRequest = Assert.Single(stub.Requests, r => r.Model == killScenario.Model);
        Assert.Equal(keyHash, killRequest.CredentialSha256);
        await killRequest.Finished.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(RequestOutcome.ClientDisconnected, killRequest.Outcome); // the provider connection died with the silo
        runs.Add(killRun);

        // Phase 2: every other way a stream can end, concurrently, spread over the two live silos.
        var live = new[] { survivor, c };
        await using var client = await SiloProcess.ConnectAsync(live, user.Token);
        var scenarios = new[]
        {
            S("finished", "openai", "tokens=50", StreamEventKind.Finished),
            S("finished-anthropic", "anthropic", "tokens=30", StreamEventKind.Finished),
            S("stopped", "openai", "tokens=2000-interval=10ms", StreamEventKind.Stopped, stop: true),
            S("error-401", "openai", "fault=401", StreamEventKind.Error),
            S("error-429", "anthropic", "fault=429", StreamEventKind.Error),
            S("error-500", "openai", "fault=500", StreamEventKind.Error),
            S("echo-key", "openai", "fault=echo-key", StreamEventKind.Error),
            S("echo-key-anthropic", "anthropic", "fault=echo-key", StreamEventKind.Error),
            S("drop", "openai", "fault=drop-after=5", StreamEventKind.Error),
            S("stall", "openai", "fault=stall-after=3", StreamEventKind.Error),
        };
        var tlsScenarios = new[]
        {
            S("finished-tls", "openai", "tokens=50", StreamEventKind.Finished),
            S("finished-tls-anthropic", "anthropic", "tokens=30", StreamEventKind.Finished),
            S("stopped-tls", "openai", "tokens=2000-interval=10ms", StreamEventKind.Stopped, stop: true),
            S("error-401-tls", "openai", "fault=401", StreamEventKind.Error),
            S("echo-key-tls", "openai", "fault=echo-key", StreamEventKind.Error),
        };
        var startedBefore = 0.0;
        foreach (var s in live) startedBefore += await s.MetricAsync("plandex_streams_started");
        var phase2 = await Task.WhenAll(
            scenarios.Select(s => RunAsync(client, user.OrgId, s, endpoint, canary, $"{promptMarker} {s.Name}"))
                .Concat(tlsScenarios.Select(s => RunAsync(client, user.OrgId, s, tlsEndpoint, canary, $"{promptMarker} {s.Name}"))));
        foreach (var r in phase2)
        {
            output.WriteLine($"{r.Scenario.Name}: {r.Last.Kind} after {r.Took.TotalMilliseconds:0} ms, {r.Events.Count} events; {r.Last.Text}");
            Assert.True(r.Scenario.Expected == r.Last.Kind, $"{r.Scenario.Name}: expected {r.Scenario.Expected}, got {r.Last.Kind} ({r.Last.Text})");
        }
        runs.AddRange(phase2);
        Assert.Equal(ProviderStubServer.ExpectedText(50), string.Concat(phase2[0].Events.Where(e => e.Kind == StreamEventKind.Chunk).Select(e => e.Text)));
        Assert.Contains("stalled", phase2.Single(r => r.Scenario.Name == "stall").Last.Text);
        AssertStubGotTheCanary(stub, scenarios, keyHash);
        AssertStubGotTheCanary(tlsStub, tlsScenarios, keyHash);
        Assert.Equal(ProviderStubServer.ExpectedText(50),
            string.Concat(phase2.Single(r => r.Scenario.Name == "finished-tls").Events.Where(e => e.Kind == StreamEventKind.Chunk).Select(e => e.Text)));
        var perSilo = new List<double>();
        foreach (var s in live) perSilo.Add(await s.MetricAsync("plandex_streams_started"));
        output.WriteLine($"streams started per live silo ({string.Join(", ", live.Select(s => s.Name))}): {string.Join(", ", perSilo)}");
        Assert.Equal(scenarios.Length + tlsScenarios.Length, (int)(perSilo.Sum() - startedBefore));

        var (gone, goneAfter) = await WaitSessionsGoneAsync(live, TimeSpan.FromSeconds(10));
        Console.WriteLine($"[measure] key hygiene: stream sessions gone from the live silos {goneAfter.TotalMilliseconds:0} ms after the last stream ended ({(gone ? "all gone" : "some still active")})");
        await Task.Delay(2000); // the silos are idle now

        // Everything has ended. Search everywhere.
        var orgVisible = new StringBuilder();
        foreach (var r in runs)
        {
            foreach (var e in r.Events) orgVisible.Append(e.Text).Append('\n');
            var info = await client.Plan(r.PlanId).Describe();
            orgVisible.Append(info.LastError).Append('\n');
            foreach (var m in await client.Plan(r.PlanId).Conversation()) orgVisible.Append(m.Content).Append('\n');
        }
        measures.Add("stream events, plan errors and conversations the org sees", scanner.Scan(orgVisible.ToString()));
        foreach (var s in live)
        {
            var metrics = await s.GetAsync("/metrics");
            Assert.Contains("plandex_streams_started", metrics);
            measures.Add($"/metrics of {s.Name}", scanner.Scan(metrics));
        }

        // Full memory dumps of the live silos. A dump pauses its silo; the other may then vote it dead and it
        // stops itself afterwards: harmless here (nothing needs the cluster any more; logs and files are read after).
        foreach (var s in live)
        {
            var (mem, bytes, took) = await Evidence.ScanProcessMemoryAsync(s.Pid, scanner);
            measures.Add($"memory of {s.Name}", mem, $"full dump of {bytes / (1024 * 1024)} MB, dump+scan {took.TotalSeconds:0.0} s");
        }

        var dump = await Evidence.PgDumpAsync(db);
        // Positive control: the dump holds the streams' stored messages (as ciphertext: content is encrypted at
        // rest, so the prompt marker itself must not be there either).
        var sample = await db.ScalarAsync<byte[]>("SELECT content FROM plandex_plan_messages ORDER BY created_at LIMIT 1");
        Assert.True(sample is { Length: > 0 } && System.Text.Encoding.UTF8.GetString(dump).Contains(Convert.ToHexStringLower(sample)),
            "positive control: the stored messages were not found in the pg_dump, so it cannot prove the key's absence");
        var promptsInDump = promptScanner.Scan(dump);
        Assert.Equal(0, promptsInDump.Total);
        measures.Add("pg_dump of the database", scanner.Scan(dump), $"{dump.Length / 1024} KB; holds the stored messages (ciphertext), prompt marker in plaintext: {promptsInDump.Total}");
        var (pgFiles, files, pgBytes) = await Evidence.ScanPgDataAsync(db, scanner);
        Assert.True(files > 0, "no PostgreSQL data files were readable");
        measures.Add("PostgreSQL data directory (heap, WAL) after CHECKPOINT", pgFiles, $"{files} files, {pgBytes / (1024 * 1024)} MB");

        var waitTraces = Stopwatch.StartNew();
        var tracesAtEnd = collector.TraceRequests;
        while (collector.TraceRequests <= tracesAtEnd && waitTraces.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(200);
        var exports = collector.Requests;
        Assert.True(exports.Count(r => r.Path == "/v1/traces") > 0, "the collector received no trace export, so it cannot prove anything");
        var otlp = new ScanResult();
        foreach (var (_, body) in exports) otlp.Merge(scanner.Scan(body));
        measures.Add("OTLP trace exports", otlp, $"{exports.Count} requests, {exports.Sum(r => r.Body.Length) / 1024} KB");

        var all = new[] { a, b, c };
        foreach (var s in all)
        {
            var lines = s.Lines;
            Assert.Contains(lines, l => l.Contains(" trce Orleans")); // Trace is really on
            measures.Add($"log of {s.Name}", scanner.Scan(string.Join('\n', lines)), $"{lines.Count} lines");
            var redacted = lines.Count(l => l.Contains("[redacted]"));
            Console.WriteLine($"[measure] key hygiene: log lines of {s.Name} where the redactor masked something: {redacted}");
            Assert.True(redacted == 0, $"a secret-shaped value reached a log line of {s.Name}:\n" + string.Join('\n', lines.Where(l => l.Contains("[redacted]")).Take(5)));
        }
        foreach (var dir in all.Select(s => s.WorkDir).Append(db.KeyDirectory))
        {
            var (r, n, bytes) = scanner.ScanDirectory(dir);
            measures.Add($"files under {Path.GetFileName(dir)}", r, $"{n} files, {bytes} bytes");
        }

        Console.WriteLine($"[measure] key hygiene: canary test took {total.Elapsed.TotalSeconds:0.0} s ({runs.Count} streams)");
        measures.AssertAllZero();
    }

    [Fact]
    public async Task Control_run_the_memory_scan_finds_a_key_kept_as_a_string()
    {
        var canary = CanaryScanner.NewCanary();
        var scanner = new CanaryScanner(canary);
        await using var stub = await ProviderStubServer.StartAsync();
        var endpoint = stub.BaseUrl + "v1";
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "kh-control", new Dictionary<string, string>
        {
            ["ScanControl:KeepKeysAsStrings"] = "true",
            ["Providers:AllowLoopback"] = "true",
        });
        Assert.Contains(silo.Lines, l => l.Contains("KeepKeysAsStrings is ON"));
        SignInResult user;
        await using (var anon = await silo.ConnectAsync())
            user = await anon.SignUpAsync(new SignUpRequest("control@example.com", "Control"));
        await using var client = await silo.ConnectAsync(user.Token);
        var scenario = new Scenario("control", "openai", StubModel("control", "tokens=20"), StreamEventKind.Finished);
        var run = await RunAsync(client, user.OrgId, scenario, endpoint, canary, "control run");
        Assert.Equal(StreamEventKind.Finished, run.Last.Kind);
        Assert.Equal(ProviderStubServer.HashCredential(canary), Assert.Single(stub.Requests).CredentialSha256);
        await WaitSessionsGoneAsync([silo], TimeSpan.FromSeconds(10));
        await Task.Delay(2000); // the same wait as the real run

        var (mem, bytes, took) = await Evidence.ScanProcessMemoryAsync(silo.Pid, scanner);
        Console.WriteLine($"[measure] key hygiene control (key deliberately kept as a string): canary occurrences in memory of {silo.Name}: {mem} (full dump of {bytes / (1024 * 1024)} MB, dump+scan {took.TotalSeconds:0.0} s)");
        Assert.True(mem.Total > 0, "the memory scan did not find a key the silo deliberately kept: it cannot prove the key's absence");
        Assert.True(mem.ByForm.GetValueOrDefault("utf16le") > 0, $"the kept string copy (UTF-16) was not found: {mem}");
    }

    /// <summary>
    /// A provider that echoes the whole key in its error body, over TLS, several times on one silo. Through
    /// SslStream this left copies behind (2026-12-06: 4 streams, 6 copies in a dump): SslStream decrypts into an
    /// array it returns to ArrayPool&lt;byte&gt;.Shared uncleared, and OpenSSL keeps a record's plaintext unless
    /// SSL_OP_CLEANSE_PLAINTEXT is set. <c>ProviderTlsStream</c> has OpenSSL decrypt into the stream's pinned buffer,
    /// with that option on.
    /// </summary>
    [Fact]
    public async Task A_key_echoed_back_over_TLS_is_nowhere_after_the_stream()
    {
        var canary = CanaryScanner.NewCanary();
        var scanner = new CanaryScanner(canary);
        using var certificate = new LoopbackCertificate(TestEnv.NewWorkDir("kh-echo-tls"));
        await using var stub = await ProviderStubServer.StartAsync(tls: certificate.Certificate);
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "kh-echo-tls", new Dictionary<string, string>
        {
            ["Providers:AllowLoopback"] = "true",
            ["env:SSL_CERT_FILE"] = certificate.PemPath,
        });
        SignInResult user;
        await using (var anon = await silo.ConnectAsync())
            user = await anon.SignUpAsync(new SignUpRequest("echo-tls@example.com", "Echo TLS"));
        await using var client = await silo.ConnectAsync(user.Token);
        for (var i = 0; i < 4; i++)
        {
            var run = await RunAsync(client, user.OrgId, new Scenario($"echo-tls-{i}", "openai", StubModel($"echotls{i}", "fault=echo-key"),
                StreamEventKind.Error), stub.BaseUrl + "v1", canary, "echo over TLS");
            Assert.Equal(StreamEventKind.Error, run.Last.Kind);
        }
        await WaitSessionsGoneAsync([silo], TimeSpan.FromSeconds(10));
        await Task.Delay(2000);
        var (mem, _, _) = await Evidence.ScanProcessMemoryAsync(silo.Pid, scanner);
        Assert.True(mem.Total == 0, $"the echoed key is still in the silo's memory: {mem}");
    }

    private static void AssertStubGotTheCanary(ProviderStubServer stub, IEnumerable<Scenario> scenarios, string keyHash)
    {
        var requests = stub.Requests;
        foreach (var s in scenarios)
        {
            var r = requests.Where(x => x.Model == s.Model).ToList();
            Assert.True(r.Count == 1, $"{s.Name}: the stub received {r.Count} requests");
            Assert.True(r[0].CredentialSha256 == keyHash, $"{s.Name}: the stub did not receive the canary key");
        }
    }
}
