using Microsoft.Extensions.DependencyInjection;
using Plandex.GrainInterfaces;
using Plandex.Grains.Streams;
using Plandex.Grains.Telemetry;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Streams;

/// <summary>
/// Sessions opened ahead of tells (<see cref="ReadySessions"/>): a stream's end opens one in its place, the next
/// tell takes it and streams through it (its plan binds it at Start), it is counted apart from sessions that carry a
/// stream, and one older than its age limit is not handed out.
/// </summary>
// Alone: the session counts are the process's, and parallel tests' silos share the process.
[Collection(ExclusiveCollection.Name)]
public sealed class ReadySessionsTests
{
    [Fact]
    public async Task A_streams_end_readies_sessions_and_the_next_tell_streams_through_one()
    {
        await using var p = await InProcessPlan.StartAsync("stub-tokens=20");
        var ready = p.SiloServices.GetRequiredService<ReadySessions>();
        Assert.Equal(0, ready.Count); // nothing is opened ahead before the first stream on this silo

        await TellAsync(p, "first");
        await WaitForAsync(() => ready.Count == 2, "two sessions ready after the first stream's end");
        Assert.Equal(2, PlandexMetrics.ReadySessionCount);

        var prepared = await p.Client.Streams.PrepareTellAsync(p.PlanId, p.Endpoint, "sk-ready"u8.ToArray());
        Assert.Equal(1, ready.Count); // BeginTell took one instead of opening its own
        var events = await CollectAsync(await p.Client.Streams.TellWatchingAsync(prepared, "second"));

        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(20), StreamWorld.Text(events));
        Assert.Equal(ProviderStubServer.HashCredential("sk-ready"), p.Stub.Requests[^1].CredentialSha256);
        var convo = await p.Client.Plan(p.PlanId).Conversation();
        Assert.Equal(["first", ProviderStubServer.ExpectedText(20), "second", ProviderStubServer.ExpectedText(20)], convo.Select(m => m.Content));
        // The session that carried the stream is gone; the ready ones are not counted as active.
        await WaitForAsync(() => PlandexMetrics.ActiveSessions == 0, "no active session after the streams ended");
        await WaitForAsync(() => ready.Count == 2, "topped up again after the second stream's end");
        Assert.Equal(2, PlandexMetrics.ReadySessionCount);
    }

    [Fact]
    public async Task A_ready_session_past_its_age_is_not_handed_out()
    {
        await using var p = await InProcessPlan.StartAsync("stub-tokens=5");
        var ready = p.SiloServices.GetRequiredService<ReadySessions>();
        await TellAsync(p, "first");
        await WaitForAsync(() => ready.Count == 2, "two sessions ready");

        p.Time.Advance(ReadySessions.MaxAge);
        var prepared = await p.Client.Streams.PrepareTellAsync(p.PlanId, p.Endpoint, "sk-fresh"u8.ToArray());

        Assert.Equal(0, ready.Count); // both too old: stopped, and this tell opened its own session
        await WaitForAsync(() => PlandexMetrics.ReadySessionCount == 0, "the stale sessions deactivated");
        var events = await CollectAsync(await p.Client.Streams.TellWatchingAsync(prepared, "second"));
        StreamWorld.AssertFinished(events);
    }

    private static async Task TellAsync(InProcessPlan p, string prompt)
    {
        var events = await CollectAsync(await p.Client.Streams.TellWatchingAsync(p.PlanId, prompt, p.Endpoint, "sk-first"u8.ToArray()));
        StreamWorld.AssertFinished(events);
    }

    private static async Task WaitForAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting: " + what);
            await Task.Delay(20);
        }
    }

    private static async Task<List<StreamEvent>> CollectAsync(IAsyncEnumerable<StreamEvent> stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var events = new List<StreamEvent>();
        await foreach (var e in stream.WithCancellation(cts.Token)) events.Add(e);
        return events;
    }
}
