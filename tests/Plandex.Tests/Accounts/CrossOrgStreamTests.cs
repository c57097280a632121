using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Accounts;

/// <summary>Another org's valid session cannot watch, start, stop or read this org's plan or stream.</summary>
public sealed class CrossOrgStreamTests
{
    [Fact]
    public async Task Another_orgs_token_cannot_attach_to_or_touch_this_orgs_stream()
    {
        await using var w = await StreamWorld.StartAsync();
        await using var owner = await w.ClientAsync();
        var plan = await w.NewPlanAsync(owner, "stub-tokens=400-interval=10ms");
        await w.TellAsync(owner, plan);

        await using var anon = await w.Silos[0].ConnectAsync();
        var stranger = await anon.SignUpAsync(new SignUpRequest("stranger@example.com", "Stranger"));
        await using var other = await w.Silos[0].ConnectAsync(stranger.Token);
        var target = other.Plan(plan);

        var before = await w.Db.SnapshotAsync();
        await Assert.ThrowsAsync<AccessDeniedException>(async () => { await foreach (var _ in target.Watch(0)) { } });
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.Describe());
        // Pushed watches: subscribing is refused; renewing or dropping a subscription one does not hold does nothing.
        var spy = new PushedWatchTests.RawObserver();
        var spyRef = other.Grains.CreateObjectReference<IStreamObserver>(spy);
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.Subscribe(spyRef, Guid.Empty, 0));
        Assert.Equal(WatchStatus.NotSubscribed, (await target.Renew(spyRef, 0)).Status);
        await target.Unsubscribe(spyRef);
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.BeginTell());
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.Stop());
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.Conversation());
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.SetModel(new ModelSettings("openai", "x")));
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.LoadContext([new ContextUpload("a.txt", "x")]));
        await Assert.ThrowsAsync<AccessDeniedException>(() => other.Org(w.Account.OrgId).Plans());
        // Internal plan methods are not reachable from any client.
        await Assert.ThrowsAsync<AccessDeniedException>(() => target.Append(Guid.NewGuid(), "injected"));
        await Assert.ThrowsAsync<AccessDeniedException>(() => other.Grains.GetGrain<IStreamSessionGrain>(Guid.NewGuid()).IsRunning());

        var events = await StreamWorld.CollectAsync(owner, plan);
        StreamWorld.AssertFinished(events);
        Assert.Empty(spy.Events); // nothing of the stream was pushed to the stranger
        Assert.DoesNotContain(events, e => e.Text == "injected");
        var after = await w.Db.SnapshotAsync();
        // The owner's stream itself wrote its reply meanwhile; nothing else changed.
        Assert.Equal(before.Where(t => t.Key != "plandex_plan_messages" && t.Key != "orleansstorage"),
            after.Where(t => t.Key != "plandex_plan_messages" && t.Key != "orleansstorage"));
        Assert.Equal(2L, await w.Db.ScalarAsync<long>("SELECT count(*) FROM plandex_plan_messages"));
    }
}
