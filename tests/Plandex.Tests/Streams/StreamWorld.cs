using System.Security.Cryptography;
using System.Text;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Streams;

/// <summary>A database, N real silos, the provider stub on loopback, one account with a plan-ready org.</summary>
public sealed class StreamWorld : IAsyncDisposable
{
    public static readonly IReadOnlyDictionary<string, string> StreamSettings = new Dictionary<string, string>
    {
        ["Providers:AllowLoopback"] = "true",
        ["Providers:StallTimeout"] = "00:00:02",
        ["Plans:SessionCheck"] = "00:00:01",
        ["Plans:MaxPromptChars"] = "5000",
        ["Logging:LogLevel:Plandex"] = "Debug",
    };

    private StreamWorld(TestDatabase db, List<SiloProcess> silos, ProviderStubServer stub, SignInResult account)
    {
        Db = db;
        Silos = silos;
        Stub = stub;
        Account = account;
    }

    public TestDatabase Db { get; }
    public List<SiloProcess> Silos { get; }
    public ProviderStubServer Stub { get; }
    public SignInResult Account { get; }
    public string Endpoint => Stub.BaseUrl.ToString().TrimEnd('/') + "/v1";
    /// <summary>A fresh random key per world: tests check the stub received exactly it.</summary>
    public byte[] Key { get; } = Encoding.UTF8.GetBytes("sk-test-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));

    /// <param name="traceConnectsTo">the first silo runs under strace, its every connect() written there (<see cref="SiloProcess"/>)</param>
    public static async Task<StreamWorld> StartAsync(int silos = 1, IReadOnlyDictionary<string, string>? settings = null, string? traceConnectsTo = null)
    {
        var values = new Dictionary<string, string>(StreamSettings);
        if (settings is not null) foreach (var (k, v) in settings) values[k] = v;
        var db = await TestDatabase.CreateAsync();
        var list = new List<SiloProcess>();
        for (var i = 0; i < silos; i++)
            list.Add(await SiloProcess.StartAsync(db.AppConnectionString, db.KeyDirectory, $"streams-{i}", values, traceConnectsTo: i == 0 ? traceConnectsTo : null));
        var stub = await ProviderStubServer.StartAsync();
        await using var anonymous = await list[0].ConnectAsync();
        var account = await anonymous.SignUpAsync(new SignUpRequest($"u{Guid.NewGuid():N}@example.com", "Streamer"));
        return new StreamWorld(db, list, stub, account);
    }

    public Task<PlandexClient> ClientAsync(params SiloProcess[] via) =>
        SiloProcess.ConnectAsync(via.Length == 0 ? Silos : via, Account.Token);

    public async Task<Guid> NewPlanAsync(PlandexClient client, string model, string provider = "openai")
    {
        var plan = await client.Org(Account.OrgId).CreatePlan("p-" + Guid.NewGuid().ToString("N")[..8]);
        await client.Plan(plan.PlanId).SetModel(new ModelSettings(provider, model));
        return plan.PlanId;
    }

    public Task<Guid> TellAsync(PlandexClient client, Guid planId, string prompt = "hello") =>
        client.Streams.TellAsync(planId, prompt, Endpoint, (byte[])Key.Clone());

    public static async Task<List<StreamEvent>> CollectAsync(PlandexClient client, Guid planId, long afterSeq = 0, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var list = new List<StreamEvent>();
        await foreach (var e in client.Streams.WatchAsync(planId, afterSeq, cts.Token)) list.Add(e);
        return list;
    }

    /// <summary>The stream ended Finished; otherwise the failure names how it ended and why (an error's text).</summary>
    public static void AssertFinished(IReadOnlyList<StreamEvent> events) =>
        Assert.True(events.Count > 0 && events[^1].Kind == StreamEventKind.Finished,
            events.Count == 0 ? "the stream gave no events" : $"the stream ended {events[^1].Kind}: {events[^1].Text}");

    public static string Text(IEnumerable<StreamEvent> events) =>
        string.Concat(events.Where(e => e.Kind == StreamEventKind.Chunk).Select(e => e.Text));

    /// <summary>Every non-heartbeat event's sequence number is exactly one more than the previous one.</summary>
    public static void AssertNoGapsNoDuplicates(IEnumerable<StreamEvent> events, long afterSeq = 0)
    {
        var expected = afterSeq + 1;
        foreach (var e in events.Where(e => e.Kind != StreamEventKind.Heartbeat))
        {
            Assert.Equal(expected, e.Seq);
            expected++;
        }
    }

    public async Task WaitSessionsGoneAsync(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            double active = 0;
            foreach (var s in Silos.Where(s => !s.HasExited)) active += await s.MetricAsync("plandex_sessions_active");
            if (active == 0) return;
            Assert.True(DateTime.UtcNow < deadline, $"{active} stream session(s) still active after {within}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Runs a test's body; a failure carries each silo's last log lines, which would otherwise end with the test
    /// process (CI keeps a failed run's output, not its silos' logs).
    /// </summary>
    public async Task WithSiloLogsOnFailureAsync(Func<Task> body, int lines = 60)
    {
        try { await body(); }
        catch (Exception e)
        {
            var tails = string.Join('\n', Silos.Select(s =>
                $"--- silo {s.Name} ({(s.HasExited ? "exited" : "running")}), its last {lines} log lines:\n{string.Join('\n', s.Lines.TakeLast(lines))}"));
            throw new Xunit.Sdk.XunitException($"{e.GetType().Name}: {e.Message}\n{tails}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Silos) await s.DisposeAsync();
        await Stub.DisposeAsync();
        await Db.DisposeAsync();
    }
}
