using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Accounts;

/// <summary>
/// A tell's Tell and Subscribe may reuse its BeginTell's session check for up to a second (they follow it within
/// milliseconds); past that they ask the database again, so a session revoked in between cannot start the stream.
/// </summary>
public sealed class TellRevocationTests
{
    [Fact]
    public async Task A_tell_begun_before_sign_out_is_refused_a_second_later()
    {
        await using var w = await StreamWorld.StartAsync();
        await using var owner = await w.ClientAsync();
        var plan = await w.NewPlanAsync(owner, "stub-tokens=5-interval=1ms");
        var code = await owner.Account(w.Account.AccountId).CreateSignInCode();
        await using var anon = await w.Silos[0].ConnectAsync();
        var second = await anon.SignInWithCodeAsync(w.Account.Email, code.Code);
        await using var laptop = await w.Silos[0].ConnectAsync(second.Token);

        var ticket = await laptop.Plan(plan).BeginTell();
        await laptop.Account(w.Account.AccountId).SignOut();
        await Task.Delay(TimeSpan.FromMilliseconds(1300)); // past the 1 s a continuation may reuse a session check
        var sealedKey = ProviderKeySeal.Seal(ticket.SessionPublicKey, ticket.StreamId, w.Endpoint, w.Key);
        var refused = await Assert.ThrowsAsync<AccessDeniedException>(() => laptop.Plan(plan).Tell(ticket.StreamId, "hello", sealedKey));
        Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);
        var spy = laptop.Grains.CreateObjectReference<IStreamObserver>(new PushedWatchTests.RawObserver());
        await Assert.ThrowsAsync<AccessDeniedException>(() => laptop.Plan(plan).Subscribe(spy, ticket.StreamId, 0));

        // Nothing started: no provider request, the plan is idle, and the owner's own session still tells.
        Assert.Empty(w.Stub.Requests);
        Assert.Equal(PlanStatus.Idle, (await owner.Plan(plan).Describe()).Status);
        await w.TellAsync(owner, plan);
        var events = await StreamWorld.CollectAsync(owner, plan);
        StreamWorld.AssertFinished(events);
    }
}
