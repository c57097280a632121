using Orleans.Configuration;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>
/// Orleans collects an activation that has had no request for its collection age. While a stream runs, neither its
/// session (reading the provider) nor its plan (fed through its inbox) receives requests; both must stay active
/// until the stream ends, however long that is and whether or not anyone watches.
/// </summary>
public sealed class IdleCollectionTests
{
    [Fact]
    public async Task A_stream_nobody_watches_outlives_the_collection_age_and_finishes()
    {
        await using var p = await InProcessPlan.StartAsync("stub-tokens=60-interval=100ms", extra: s => s.Configure<GrainCollectionOptions>(o =>
        {
            o.CollectionQuantum = TimeSpan.FromSeconds(1);
            o.CollectionAge = TimeSpan.FromSeconds(2);
        }));

        await p.Client.Streams.TellAsync(p.PlanId, "hello", p.Endpoint, "sk-idle"u8.ToArray());
        // 6 s of stream, three collection ages, and no call to the plan or the session meanwhile: the stub tells
        // when its side is over (a collected session would have hung up early).
        var request = await p.Stub.WaitForRequestAsync(r => r.Stream, TimeSpan.FromSeconds(10));
        await request.Finished.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(request.Outcome == RequestOutcome.Completed, string.Join('\n', p.SiloLines.TakeLast(30)));

        var info = await p.Client.Plan(p.PlanId).Describe();
        for (var i = 0; i < 100 && info.Status == PlanStatus.Streaming; i++)
        {
            await Task.Delay(100); // the end is being recorded
            info = await p.Client.Plan(p.PlanId).Describe();
        }
        Assert.True(info.Status == PlanStatus.Finished, $"{info.Status}: {info.LastError}");
        var convo = await p.Client.Plan(p.PlanId).Conversation();
        Assert.Equal(ProviderStubServer.ExpectedText(60), convo[^1].Content);
    }
}
