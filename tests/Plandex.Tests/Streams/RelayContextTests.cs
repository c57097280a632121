using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>
/// How the session hands batches to its plan. On the plan's silo they are posted to the plan's inbox: no
/// <c>Append</c> message at all. Otherwise (forced here on one silo) they go as <c>Append</c>s, which carry no
/// caller context: the account, session hash and source of the user who told stay in the Tell. A provider faster
/// than the relay is handed on in a few large batches, not one per socket read.
/// </summary>
public sealed class RelayContextTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Batches_and_the_end_reach_the_plan_without_messages_or_the_tellers_call_context(bool inbox)
    {
        var seen = new ConcurrentQueue<(string Method, string[] Keys)>();
        await using var p = await InProcessPlan.StartAsync("stub-tokens=40", extra: s =>
        {
            if (!inbox) s.Services.AddSingleton(new Plandex.Grains.Streams.LocalPlanInboxes { IgnoreOffers = true }); // registered last: wins
            s.AddIncomingGrainCallFilter(async call =>
            {
                if (call.Request.GetInterfaceType() == typeof(IPlanGrain) && call.MethodName is nameof(IPlanGrain.Append) or nameof(IPlanGrain.Complete))
                    seen.Enqueue((call.MethodName, RequestContext.Keys.ToArray()));
                await call.Invoke();
            });
        });
        var events = new List<StreamEvent>();
        await foreach (var e in await p.Client.Streams.TellWatchingAsync(p.PlanId, "hello", p.Endpoint, "sk-relay-context"u8.ToArray())) events.Add(e);

        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(40), StreamWorld.Text(events));
        if (inbox) Assert.DoesNotContain(seen, c => c.Method == nameof(IPlanGrain.Append));
        else Assert.Contains(seen, c => c.Method == nameof(IPlanGrain.Append));
        Assert.Contains(seen, c => c.Method == nameof(IPlanGrain.Complete));
        // Nothing of the teller's call (identity, session): only the cluster's seal, which every call inside it carries.
        Assert.All(seen, c => Assert.Equal(["plx-cluster"], c.Keys));
    }

    [Fact]
    public async Task A_provider_faster_than_the_relay_reaches_the_client_in_a_few_large_batches()
    {
        // 20,000 unpaced tokens arrive in 100-token socket reads; one batch per read was one push per read.
        await using var p = await InProcessPlan.StartAsync("stub-tokens=20000",
            new Dictionary<string, string> { ["Providers:BatchWindow"] = "00:00:00.100", ["Providers:BatchWindowLoaded"] = "00:00:00.100" });
        var events = new List<StreamEvent>();
        var arrivals = new List<long>();
        await foreach (var e in await p.Client.Streams.TellWatchingAsync(p.PlanId, "hello", p.Endpoint, "sk-fast"u8.ToArray()))
        {
            events.Add(e);
            if (e.Kind == StreamEventKind.Chunk) arrivals.Add(System.Diagnostics.Stopwatch.GetTimestamp());
        }

        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(20000), StreamWorld.Text(events));
        // Deliveries are at least half a window (50 ms) apart: the first, then one per 50 ms at most, then the end
        // (with slack for arrival jitter; one batch per read gives ~200 chunks in ~150 ms).
        var spanMs = System.Diagnostics.Stopwatch.GetElapsedTime(arrivals[0], arrivals[^1]).TotalMilliseconds;
        Console.WriteLine($"[measure] fast provider: {arrivals.Count} chunks in {spanMs:F0} ms");
        Assert.True(arrivals.Count <= spanMs / 50 * 1.5 + 5, $"{arrivals.Count} chunks in {spanMs:F0} ms");
    }
}
