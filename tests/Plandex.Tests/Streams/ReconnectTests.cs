using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>Two silos: watching from another gateway, and two watchers at once.</summary>
public sealed class ReconnectTests(TwoSiloWorld world) : IClassFixture<TwoSiloWorld>
{
    private readonly StreamWorld _w = world.World;

    [Fact]
    public async Task Client_B_through_the_other_gateway_gets_the_complete_reply_after_client_A_left()
    {
        Guid plan;
        await using (var a = await _w.ClientAsync(_w.Silos[0]))
        {
            plan = await _w.NewPlanAsync(a, "stub-tokens=150-interval=10ms");
            await _w.TellAsync(a, plan);
            var seen = 0;
            await foreach (var e in a.Streams.WatchAsync(plan))
                if (e.Kind == StreamEventKind.Chunk && ++seen == 10) break; // A's laptop goes away mid-stream
        }
        await using var b = await _w.ClientAsync(_w.Silos[1]);
        var events = await StreamWorld.CollectAsync(b, plan);
        Assert.Equal(StreamEventKind.Started, events[0].Kind);
        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(150), StreamWorld.Text(events));
        StreamWorld.AssertNoGapsNoDuplicates(events);
    }

    [Fact]
    public async Task Attaching_mid_stream_from_a_sequence_number_continues_without_gaps()
    {
        await using var a = await _w.ClientAsync(_w.Silos[0]);
        var plan = await _w.NewPlanAsync(a, "stub-tokens=100-interval=10ms");
        await _w.TellAsync(a, plan);
        var head = new List<StreamEvent>();
        await foreach (var e in a.Streams.WatchAsync(plan))
        {
            if (e.Kind != StreamEventKind.Heartbeat) head.Add(e);
            if (head.Count == 8) break;
        }
        await using var b = await _w.ClientAsync(_w.Silos[1]);
        var tail = await StreamWorld.CollectAsync(b, plan, afterSeq: head[^1].Seq);
        var all = head.Concat(tail).ToList();
        StreamWorld.AssertNoGapsNoDuplicates(all);
        Assert.Equal(ProviderStubServer.ExpectedText(100), StreamWorld.Text(all));
    }

    [Fact]
    public async Task Two_watchers_at_once_on_a_fast_stream()
    {
        await using var a = await _w.ClientAsync(_w.Silos[0]);
        await using var b = await _w.ClientAsync(_w.Silos[1]);
        var plan = await _w.NewPlanAsync(a, "stub-tokens=3000");
        await _w.TellAsync(a, plan);
        var results = await Task.WhenAll(StreamWorld.CollectAsync(a, plan), StreamWorld.CollectAsync(b, plan));
        foreach (var events in results)
        {
            StreamWorld.AssertFinished(events);
            Assert.Equal(ProviderStubServer.ExpectedText(3000), StreamWorld.Text(events));
            StreamWorld.AssertNoGapsNoDuplicates(events);
        }
    }
}
