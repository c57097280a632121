using System.Collections.Concurrent;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Xunit.Abstractions;

namespace Plandex.Tests.Streams;

/// <summary>
/// The pushed watch (Subscribe / Renew) at the grain contract, with a raw observer that can lose events or never
/// renew, against a real silo: lost pushes come again, a lapsed lease stops the pushes, and nothing of the calling
/// context travels with them.
/// </summary>
public sealed class PushedWatchTests(OneSiloWorld world, ITestOutputHelper output) : IClassFixture<OneSiloWorld>
{
    private readonly StreamWorld _w = world.World;

    /// <summary>Records what the plan pushes, and the request context each push arrived with.</summary>
    public sealed class RawObserver : IStreamObserver
    {
        public ConcurrentQueue<StreamEvent> Events { get; } = new();
        public ConcurrentBag<string> ContextKeys { get; } = [];
        public Func<StreamEvent, bool> Drop { get; set; } = _ => false;

        public Task OnEvents(StreamEvent[] events)
        {
            foreach (var k in RequestContext.Keys) ContextKeys.Add(k);
            foreach (var e in events) if (!Drop(e)) Events.Enqueue(e);
            return Task.CompletedTask;
        }
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    private static long InOrder(RawObserver raw)
    {
        var seen = raw.Events.Select(e => e.Seq).ToHashSet();
        var seq = 0L;
        while (seen.Contains(seq + 1)) seq++;
        return seq;
    }

    [Fact]
    public async Task Pushes_lost_before_a_renewal_are_pushed_again_at_the_next_and_carry_no_caller_context()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=200-interval=20ms"); // about 4 s
        var raw = new RawObserver { Drop = e => e.Seq is 3 or 4 }; // as if two pushes were lost on the way
        var observer = client.Grains.CreateObjectReference<IStreamObserver>(raw);
        var stream = await _w.TellAsync(client, plan);
        var lease = await client.Plan(plan).Subscribe(observer, stream, 0);
        Assert.NotEqual(WatchStatus.NoStream, lease.Status);
        await WaitUntil(() => raw.Events.Any(e => e.Seq >= 10), TimeSpan.FromSeconds(20), "the first ten events");
        raw.Drop = _ => false;
        Assert.DoesNotContain(raw.Events, e => e.Seq is 3 or 4);

        // Renewals tell the plan what the client has in order (2): the first marks what was pushed by then, the
        // second finds 3 and 4 still missing and pushes everything after 2 again.
        Assert.Equal(WatchStatus.Watching, (await client.Plan(plan).Renew(observer, 2)).Status);
        await Task.Delay(200);
        Assert.Equal(WatchStatus.Watching, (await client.Plan(plan).Renew(observer, 2)).Status);
        await WaitUntil(() => raw.Events.Any(e => e.Seq == 3) && raw.Events.Any(e => e.Seq == 4), TimeSpan.FromSeconds(5), "the re-sent events");
        // Renewed as the client library does, until the end.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!raw.Events.Any(e => e.IsTerminal) && DateTime.UtcNow < deadline)
        {
            await client.Plan(plan).Renew(observer, InOrder(raw));
            await Task.Delay(500);
        }
        var all = raw.Events.GroupBy(e => e.Seq).Select(g => g.First()).OrderBy(e => e.Seq).ToList();
        StreamWorld.AssertNoGapsNoDuplicates(all);
        Assert.Equal(ProviderStubServer.ExpectedText(200), StreamWorld.Text(all));
        Assert.Equal(StreamEventKind.Finished, all[^1].Kind);
        // The pushes were made inside the plan's turns for the session (which carries the teller's identity):
        // none of it (account, session hash, source) reached the client.
        Assert.DoesNotContain(raw.ContextKeys, k => k.StartsWith("plx", StringComparison.Ordinal));
        client.Grains.DeleteObjectReference<IStreamObserver>(observer);
    }

    [Fact]
    public async Task A_subscription_that_is_not_renewed_stops_receiving_while_a_renewed_one_gets_the_whole_stream()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=300-interval=25ms"); // about 7.5 s
        var lapsing = new RawObserver();
        var observer = client.Grains.CreateObjectReference<IStreamObserver>(lapsing);
        var stream = await _w.TellAsync(client, plan);
        var watched = StreamWorld.CollectAsync(client, plan); // the client library renews every second
        var lease = await client.Plan(plan).Subscribe(observer, stream, 0);
        output.WriteLine($"lease {lease.Lease.TotalSeconds} s");

        var events = await watched;
        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(300), StreamWorld.Text(events));
        StreamWorld.AssertNoGapsNoDuplicates(events);
        // The unrenewed one got the start, then nothing once its lease (3 s) ran out: not the end of the stream.
        var last = lapsing.Events.Max(e => e.Seq);
        output.WriteLine($"unrenewed subscription got events up to {last} of {events[^1].Seq}");
        Assert.True(last > 1, "it was subscribed and got the first events");
        Assert.True(last < events[^1].Seq, "its pushes must stop when its lease runs out");
        Assert.DoesNotContain(lapsing.Events, e => e.IsTerminal);
        Assert.Equal(WatchStatus.NotSubscribed, (await client.Plan(plan).Renew(observer, last)).Status);
        client.Grains.DeleteObjectReference<IStreamObserver>(observer);
    }

    [Fact]
    public async Task A_watch_of_a_session_signed_out_mid_stream_ends_refused_and_its_pushes_stop_while_the_stream_goes_on()
    {
        await using var owner = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(owner, "stub-tokens=600-interval=25ms"); // about 15 s
        // A second session of the same account (another device), which will sign out while watching.
        await using var anonymous = await _w.Silos[0].ConnectAsync();
        var code = await owner.Account(_w.Account.AccountId).CreateSignInCode();
        var device = await anonymous.SignInWithCodeAsync(_w.Account.Email, code.Code);
        await using var laptop = await _w.Silos[0].ConnectAsync(device.Token);

        var stream = await _w.TellAsync(owner, plan);
        var raw = new RawObserver();
        var observer = laptop.Grains.CreateObjectReference<IStreamObserver>(raw);
        await laptop.Plan(plan).Subscribe(observer, stream, 0);
        using var stopRenewing = new CancellationTokenSource();
        var renewing = Task.Run(async () =>
        {
            // Renewed every half second, as long as the server accepts it (and tried on after that).
            while (!stopRenewing.IsCancellationRequested)
            {
                try { await laptop.Plan(plan).Renew(observer, 0); } catch (AccessDeniedException) { }
                try { await Task.Delay(500, stopRenewing.Token); } catch (OperationCanceledException) { }
            }
        });
        var seen = new List<StreamEvent>();
        var watching = Task.Run(async () =>
        {
            await foreach (var e in laptop.Streams.WatchAsync(plan)) seen.Add(e);
        });
        await Task.Delay(1500);
        Assert.False(watching.IsCompleted);

        await laptop.Account(_w.Account.AccountId).SignOut();
        var signedOut = DateTime.UtcNow;
        // The library's watch hears "revoked" at its next renewal: a clear refusal, not a silent end.
        var refused = await Assert.ThrowsAsync<AccessDeniedException>(() => watching.WaitAsync(TimeSpan.FromSeconds(10)));
        var refusedAfter = DateTime.UtcNow - signedOut;
        output.WriteLine($"watch refused {refusedAfter.TotalMilliseconds:N0} ms after sign-out: {refused.Message}");
        Assert.True(refusedAfter < TimeSpan.FromSeconds(3), $"took {refusedAfter}");
        // Pushes to the signed-out session stop once its renewals are refused and its lease lapses (≤ 1 s + 3 s).
        await Task.Delay(TimeSpan.FromSeconds(4.5));
        var countThen = raw.Events.Count;
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(countThen, raw.Events.Count);
        await Assert.ThrowsAsync<AccessDeniedException>(() => laptop.Plan(plan).Renew(observer, 0));
        stopRenewing.Cancel();
        await renewing;

        // The stream itself, watched by the owner's session, runs to its end.
        var events = await StreamWorld.CollectAsync(owner, plan);
        StreamWorld.AssertFinished(events);
        Assert.Equal(ProviderStubServer.ExpectedText(600), StreamWorld.Text(events));
        Assert.True(raw.Events.Max(e => e.Seq) < events[^1].Seq, "the signed-out session must not get the rest of the stream");
    }
}
