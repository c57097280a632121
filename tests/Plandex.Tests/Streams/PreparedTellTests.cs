using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>
/// A tell prepared before its prompt (stream reserved, session opened, key sealed) streams like any other; a
/// preparation replaced by a later one, or held past its lifetime, is refused clearly and reaches no provider.
/// </summary>
public sealed class PreparedTellTests
{
    [Fact]
    public async Task A_prepared_tell_streams_the_whole_reply_and_stores_its_prompt()
    {
        await using var p = await InProcessPlan.StartAsync("stub-tokens=30");
        var prepared = await p.Client.Streams.PrepareTellAsync(p.PlanId, p.Endpoint, "sk-prepared"u8.ToArray());
        Assert.Empty(p.Stub.Requests); // nothing reaches the provider before the prompt

        var events = await CollectAsync(await p.Client.Streams.TellWatchingAsync(prepared, "prepared prompt"));

        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(30), StreamWorld.Text(events));
        StreamWorld.AssertNoGapsNoDuplicates(events);
        var request = Assert.Single(p.Stub.Requests);
        Assert.Equal(ProviderStubServer.HashCredential("sk-prepared"), request.CredentialSha256);
        var convo = await p.Client.Plan(p.PlanId).Conversation();
        Assert.Equal(["prepared prompt", ProviderStubServer.ExpectedText(30)], convo.Select(m => m.Content));
    }

    [Fact]
    public async Task A_preparation_replaced_by_a_later_one_is_refused_and_the_later_one_streams()
    {
        await using var p = await InProcessPlan.StartAsync("stub-tokens=10");
        var first = await p.Client.Streams.PrepareTellAsync(p.PlanId, p.Endpoint, "sk-first"u8.ToArray());
        var second = await p.Client.Streams.PrepareTellAsync(p.PlanId, p.Endpoint, "sk-second"u8.ToArray());

        var refused = await Assert.ThrowsAsync<InvalidRequestException>(() => p.Client.Streams.TellWatchingAsync(first, "too late"));
        Assert.Contains("reservation", refused.Message);
        Assert.Empty(p.Stub.Requests);
        Assert.Equal(PlanStatus.Idle, (await p.Client.Plan(p.PlanId).Describe()).Status);

        var events = await CollectAsync(await p.Client.Streams.TellWatchingAsync(second, "in time"));
        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.HashCredential("sk-second"), Assert.Single(p.Stub.Requests).CredentialSha256);
        // Used once: the same preparation cannot start a second stream.
        await Assert.ThrowsAsync<InvalidRequestException>(() => p.Client.Streams.TellWatchingAsync(second, "again"));
        Assert.Single(p.Stub.Requests);
    }

    [Fact]
    public async Task A_preparation_held_past_its_lifetime_is_refused()
    {
        await using var p = await InProcessPlan.StartAsync("stub-tokens=10");
        var prepared = await p.Client.Streams.PrepareTellAsync(p.PlanId, p.Endpoint, "sk-old"u8.ToArray());
        p.Time.Advance(TimeSpan.FromMinutes(2));

        var refused = await Assert.ThrowsAsync<InvalidRequestException>(() => p.Client.Streams.TellWatchingAsync(prepared, "hello"));
        Assert.Contains("expired", refused.Message);
        Assert.Empty(p.Stub.Requests);
    }

    private static async Task<List<StreamEvent>> CollectAsync(IAsyncEnumerable<StreamEvent> stream)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var events = new List<StreamEvent>();
        await foreach (var e in stream.WithCancellation(cts.Token)) events.Add(e);
        return events;
    }
}
