using Microsoft.Extensions.Time.Testing;
using Orleans.Configuration;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;

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
        await using var stub = await ProviderStubServer.StartAsync();
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, new FakeTimeProvider(DateTimeOffset.UtcNow),
            new Dictionary<string, string> { ["Providers:AllowLoopback"] = "true" },
            extra: s => s.Configure<GrainCollectionOptions>(o =>
            {
                o.CollectionQuantum = TimeSpan.FromSeconds(1);
                o.CollectionAge = TimeSpan.FromSeconds(2);
            }));
        await using var anon = await silo.ConnectAsync();
        var me = await anon.SignUpAsync(new SignUpRequest("idle@example.com", "Idle"));
        await using var client = await silo.ConnectAsync(me.Token);
        var planId = (await client.Org(me.OrgId).CreatePlan("idle")).PlanId;
        await client.Plan(planId).SetModel(new ModelSettings("openai", "stub-tokens=60-interval=100ms"));
        var endpoint = stub.BaseUrl.ToString().TrimEnd('/') + "/v1";

        await client.Streams.TellAsync(planId, "hello", endpoint, "sk-idle"u8.ToArray());
        await Task.Delay(TimeSpan.FromSeconds(9)); // 6 s of stream, three collection ages; no call to the plan

        var info = await client.Plan(planId).Describe();
        Assert.Equal(PlanStatus.Finished, info.Status);
        var convo = await client.Plan(planId).Conversation();
        Assert.Equal(ProviderStubServer.ExpectedText(60), convo[^1].Content);
    }
}
