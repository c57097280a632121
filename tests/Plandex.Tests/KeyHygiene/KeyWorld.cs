using System.Diagnostics;
using System.Text;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.KeyHygiene;

/// <summary>Helpers shared by the key-hygiene tests: one stream from tell to its terminal event, and measurements.</summary>
public static class KeyWorld
{
    public sealed record Scenario(string Name, string Provider, string Model, StreamEventKind Expected, bool StopMidStream = false);

    public sealed record StreamRun(Scenario Scenario, Guid PlanId, Guid StreamId, IReadOnlyList<StreamEvent> Events, TimeSpan Took)
    {
        public StreamEvent Last => Events[^1];
    }

    /// <summary>
    /// The model name for the stub: its parameters, plus a label (a segment without '=') naming the scenario so the
    /// stub's recording of each request can be told apart.
    /// </summary>
    public static string StubModel(string label, string parameters) =>
        $"stub-{new string(label.Where(char.IsAsciiLetterOrDigit).ToArray())}-{parameters}";

    /// <summary>Creates a plan with <paramref name="scenario"/>'s model, tells it with <paramref name="key"/>, watches to the end.</summary>
    public static async Task<StreamRun> RunAsync(PlandexClient client, Guid orgId, Scenario scenario, string endpoint, string key,
        string prompt, Func<StreamEvent, Task>? onEvent = null, TimeSpan? timeout = null)
    {
        var plan = await client.Org(orgId).CreatePlan("kh-" + scenario.Name);
        await client.Plan(plan.PlanId).SetModel(new ModelSettings(scenario.Provider, scenario.Model, endpoint));
        return await TellAndWatchAsync(client, plan.PlanId, scenario, endpoint, key, prompt, onEvent, timeout);
    }

    public static async Task<StreamRun> TellAndWatchAsync(PlandexClient client, Guid planId, Scenario scenario, string? endpoint, string key,
        string prompt, Func<StreamEvent, Task>? onEvent = null, TimeSpan? timeout = null)
    {
        var sw = Stopwatch.StartNew();
        var keyBytes = Encoding.UTF8.GetBytes(key);
        Guid streamId;
        try { streamId = await client.Streams.TellAsync(planId, prompt, endpoint, keyBytes); }
        finally { Array.Clear(keyBytes); }
        var events = new List<StreamEvent>();
        var stopped = false;
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await foreach (var e in client.Streams.WatchAsync(planId, 0, cts.Token))
            {
                events.Add(e);
                if (scenario.StopMidStream && !stopped && e.Kind == StreamEventKind.Chunk)
                {
                    stopped = true;
                    await client.Plan(planId).Stop();
                }
                if (onEvent is not null) await onEvent(e);
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"stream '{scenario.Name}' did not end in time; events: " +
                                       string.Join(", ", events.Select(e => $"{e.Seq}:{e.Kind}")));
        }
        Assert.True(events.Count > 0 && events[^1].IsTerminal, $"stream '{scenario.Name}' ended without a terminal event");
        return new StreamRun(scenario, planId, streamId, events, sw.Elapsed);
    }

    /// <summary>Waits until /metrics of every silo shows no active stream session; returns how long that took.</summary>
    public static async Task<(bool Gone, TimeSpan Took)> WaitSessionsGoneAsync(IEnumerable<SiloProcess> silos, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            double active = 0;
            foreach (var s in silos) active += await s.MetricAsync("plandex_sessions_active");
            if (active == 0) return (true, sw.Elapsed);
            if (sw.Elapsed > timeout) return (false, sw.Elapsed);
            await Task.Delay(100);
        }
    }
}

/// <summary>Named scan results: printed as [measure] lines, then asserted.</summary>
public sealed class Measurements
{
    private readonly List<(string Name, ScanResult Result)> _all = [];

    public void Add(string name, ScanResult result, string? detail = null)
    {
        _all.Add((name, result));
        Console.WriteLine($"[measure] key hygiene: canary occurrences in {name}: {result.Total}" + (detail is null ? "" : $" ({detail})"));
    }

    public IReadOnlyList<(string Name, ScanResult Result)> All => _all;

    public void AssertAllZero()
    {
        var found = _all.Where(m => m.Result.Total > 0).Select(m => $"{m.Name}: {m.Result}").ToList();
        Assert.True(found.Count == 0, "the canary key was found after its streams ended:\n" + string.Join('\n', found));
    }
}
