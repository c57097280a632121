using System.Diagnostics;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Plandex.Tests.Streams;

/// <summary>
/// kill -9 of the silo running a stream's session, and of the silo holding its plan; where sessions are placed.
/// </summary>
[Collection(ExclusiveCollection.Name)]
public sealed class SiloLossTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Killing_the_session_silo_ends_the_stream_with_a_clear_error_and_the_plan_recovers()
    {
        // Sessions go next to their plans by default; here at random, so one can run on the other silo than its plan.
        await using var w = await StreamWorld.StartAsync(silos: 2, new Dictionary<string, string> { ["Providers:SessionsNextToPlans"] = "false" });
        await w.WithSiloLogsOnFailureAsync(async () =>
        {
            await using var client = await w.ClientAsync();
            var plan = await w.NewPlanAsync(client, "stub-tokens=3000-interval=10ms");
            // Placement is the runtime's choice: retry until the session runs on the other silo than the plan.
            SiloProcess? sessionSilo = null;
            for (var attempt = 0; attempt < 10 && sessionSilo is null; attempt++)
            {
                var stream = await w.TellAsync(client, plan);
                await WaitForLogAsync(w, $"stream {stream} of plan");
                var s = w.Silos.Single(x => x.Log.Contains($"stream {stream} of plan"));
                var p = w.Silos.Single(x => x.Log.Contains($"plan {plan} activated"));
                if (s != p) { sessionSilo = s; break; }
                await client.Plan(plan).Stop();
                await StreamWorld.CollectAsync(client, plan);
            }
            Assert.NotNull(sessionSilo);
            var survivor = w.Silos.Single(s => s != sessionSilo);
            await using var watcher = await w.ClientAsync(survivor);
            var watch = StreamWorld.CollectAsync(watcher, plan, timeout: TimeSpan.FromSeconds(60));
            await Task.Delay(300);

            sessionSilo.Kill();
            var sw = Stopwatch.StartNew();
            var events = await watch;
            output.WriteLine($"error reached the client {sw.ElapsedMilliseconds} ms after kill -9 of the session's silo");
            Console.WriteLine($"[measure] session silo killed: client saw the error after {sw.ElapsedMilliseconds} ms");
            Assert.Equal(StreamEventKind.Error, events[^1].Kind);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");

            var info = await watcher.Plan(plan).Describe();
            Assert.Equal(PlanStatus.Error, info.Status);
            await NewTellWorks(w, watcher, plan);
        });
    }

    [Fact]
    public async Task Killing_the_plan_silo_ends_the_stream_with_a_clear_error_and_the_plan_recovers()
    {
        await using var w = await StreamWorld.StartAsync(silos: 2);
        await w.WithSiloLogsOnFailureAsync(async () =>
        {
            await using var client = await w.ClientAsync();
            var plan = await w.NewPlanAsync(client, "stub-tokens=3000-interval=10ms");
            var stream = await w.TellAsync(client, plan);
            await WaitForLogAsync(w, $"plan {plan} activated");
            var planSilo = w.Silos.Single(x => x.Log.Contains($"plan {plan} activated"));
            var survivor = w.Silos.Single(s => s != planSilo);
            await using var watcher = await w.ClientAsync(w.Silos.ToArray());
            var watch = StreamWorld.CollectAsync(watcher, plan, timeout: TimeSpan.FromSeconds(60));
            await Task.Delay(300);

            planSilo.Kill();
            var sw = Stopwatch.StartNew();
            var events = await watch;
            output.WriteLine($"error reached the client {sw.ElapsedMilliseconds} ms after kill -9 of the plan's silo");
            Console.WriteLine($"[measure] plan silo killed: client saw the error after {sw.ElapsedMilliseconds} ms");
            Assert.Equal(StreamEventKind.Error, events[^1].Kind);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");

            await using var after = await w.ClientAsync(survivor);
            var info = await after.Plan(plan).Describe();
            Assert.Equal(PlanStatus.Error, info.Status);
            Assert.Equal(1, info.MessageCount); // the user's prompt is intact
            await NewTellWorks(w, after, plan);
            _ = stream;
        });
    }

    [Fact]
    public async Task Sessions_run_on_their_plans_silo_and_their_streams_arrive_whole()
    {
        await using var w = await StreamWorld.StartAsync(silos: 2);
        await w.WithSiloLogsOnFailureAsync(async () =>
        {
            await using var client = await w.ClientAsync();
            for (var i = 0; i < 8; i++) // at random, all eight would share their plan's silo once in 256 runs
            {
                var plan = await w.NewPlanAsync(client, "stub-tokens=20");
                var stream = await w.TellAsync(client, plan);
                var events = await StreamWorld.CollectAsync(client, plan);
                StreamWorld.AssertFinished(events);
                Assert.Equal(ProviderStubServer.ExpectedText(20), StreamWorld.Text(events));
                await WaitForLogAsync(w, $"stream {stream} of plan");
                await WaitForLogAsync(w, $"plan {plan} activated");
                Assert.Same(w.Silos.Single(x => x.Log.Contains($"plan {plan} activated")), w.Silos.Single(x => x.Log.Contains($"stream {stream} of plan")));
            }
        });
    }

    // A new tell on the survivor works end to end.
    private static async Task NewTellWorks(StreamWorld w, Plandex.Client.Connection.PlandexClient client, Guid plan)
    {
        await client.Plan(plan).SetModel(new ModelSettings("openai", "stub-tokens=20"));
        await w.TellAsync(client, plan, "again");
        var again = await StreamWorld.CollectAsync(client, plan);
        Assert.Equal(StreamEventKind.Finished, again[^1].Kind);
        Assert.Equal(ProviderStubServer.ExpectedText(20), StreamWorld.Text(again));
    }

    private static async Task WaitForLogAsync(StreamWorld w, string text)
    {
        var sw = Stopwatch.StartNew();
        while (!w.Silos.Any(s => s.Log.Contains(text)))
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"no silo logged '{text}'");
            await Task.Delay(50);
        }
    }
}
