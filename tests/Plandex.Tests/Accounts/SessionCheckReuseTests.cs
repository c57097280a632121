using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;
using Plandex.Grains.Security;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Accounts;

/// <summary>
/// Calls reuse a session check for as long as nothing ended the session, not for a fixed second: PostgreSQL tells the
/// silo when a session row is revoked, deleted or truncated, by anyone (here: an operator's SQL, which no silo code
/// sees). A silo that cannot hear it asks the database for every call but a continuation (Tell, Subscribe,
/// renewals), which falls back to the one-second rule.
/// </summary>
public sealed class SessionCheckReuseTests
{
    private sealed record Laptop(PlandexClient Client, byte[] TokenHash) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Client.DisposeAsync();
    }

    private static async Task<Laptop> SecondSessionAsync(StreamWorld w, PlandexClient owner)
    {
        var code = await owner.Account(w.Account.AccountId).CreateSignInCode();
        await using var anon = await w.Silos[0].ConnectAsync();
        var second = await anon.SignInWithCodeAsync(w.Account.Email, code.Code);
        return new Laptop(await w.Silos[0].ConnectAsync(second.Token), SecretTokens.HashToken(second.Token));
    }

    /// <summary>The world's owner with a plan, and a second session of the same account (the one revoked).</summary>
    private static async Task<(PlandexClient Owner, Guid Plan, Laptop Laptop)> SetUpAsync(StreamWorld w)
    {
        var owner = await w.ClientAsync();
        var plan = await w.NewPlanAsync(owner, "stub-tokens=5-interval=1ms");
        var laptop = await SecondSessionAsync(w, owner);
        await WaitForListenerAsync(w);
        return (owner, plan, laptop);
    }

    private static SealedKey Seal(StreamWorld w, StreamTicket t) => ProviderKeySeal.Seal(t.SessionPublicKey, t.StreamId, w.Endpoint, w.Key);

    private static Task RevokeBySqlAsync(StreamWorld w, byte[] tokenHash) =>
        w.Db.ExecAsync($"UPDATE plandex_sessions SET revoked_at = now() WHERE token_hash = '\\x{Convert.ToHexStringLower(tokenHash)}'");

    /// <summary>Terminates the silo's listener connection, if it has one; returns how many were killed.</summary>
    private static async Task<long> KillListenerAsync(StreamWorld w) =>
        await w.Db.ScalarAsync<long>($"SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = '{SessionChecks.Ping}') t");

    private static async Task<(double Database, double Reused)> ChecksAsync(StreamWorld w) =>
        (await w.Silos[0].MetricAsync("plandex_auth_session_checks"), await w.Silos[0].MetricAsync("plandex_auth_session_checks_reused"));

    private static async Task<bool> ListenerUpAsync(StreamWorld w) =>
        await w.Db.ScalarAsync<long>($"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = '{SessionChecks.Ping}'") > 0;

    private static async Task WaitForListenerAsync(StreamWorld w)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await ListenerUpAsync(w))
        {
            Assert.True(DateTime.UtcNow < until, "the silo's ended-session listener never pinged");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_tell_started_after_more_than_a_second_reuses_the_check_and_a_revocation_by_sql_ends_reuse_at_once()
    {
        await using var w = await StreamWorld.StartAsync();
        var (owner, plan, laptop) = await SetUpAsync(w);
        await using var _ = owner;
        await using var __ = laptop;

        // 1. Nothing ended the session: Tell 1.5 s after BeginTell reuses BeginTell's check (the old rule asked again).
        var ticket = await laptop.Client.Plan(plan).BeginTell();
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        var before = await ChecksAsync(w);
        await laptop.Client.Plan(plan).Tell(ticket.StreamId, "hello", Seal(w, ticket));
        var after = await ChecksAsync(w);
        Assert.Equal(before.Database, after.Database);
        Assert.Equal(before.Reused + 1, after.Reused);
        Assert.Equal(StreamEventKind.Finished, (await StreamWorld.CollectAsync(laptop.Client, plan))[^1].Kind);

        // 2. An operator revokes the session in SQL: 200 ms later (well inside the old second) a continuation is refused.
        var next = await laptop.Client.Plan(plan).BeginTell();
        var requests = w.Stub.Requests.Count;
        await RevokeBySqlAsync(w, laptop.TokenHash);
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        var refused = await Assert.ThrowsAsync<AccessDeniedException>(() =>
            laptop.Client.Plan(plan).Tell(next.StreamId, "hello", Seal(w, next)));
        Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);
        Assert.Equal(requests, w.Stub.Requests.Count);

        // The owner's own session is untouched and still tells.
        await w.TellAsync(owner, plan);
        Assert.Equal(StreamEventKind.Finished, (await StreamWorld.CollectAsync(owner, plan))[^1].Kind);
    }

    [Fact]
    public async Task Without_its_listener_the_silo_falls_back_to_one_second_and_listens_again()
    {
        await using var w = await StreamWorld.StartAsync();
        var (owner, plan, laptop) = await SetUpAsync(w);
        await using var _ = owner;
        await using var __ = laptop;

        // The check is over a second old when the listener's connection dies and the session is revoked at once: the
        // notification goes nowhere. Whether the silo is still without its listener (then only checks under a second
        // old are reused) or already listens again (which forgets every check), the Tell must be refused.
        var ticket = await laptop.Client.Plan(plan).BeginTell();
        await Task.Delay(TimeSpan.FromMilliseconds(1200));
        var killed = await KillListenerAsync(w);
        Assert.Equal(1, killed);
        await RevokeBySqlAsync(w, laptop.TokenHash);
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        var refused = await Assert.ThrowsAsync<AccessDeniedException>(() =>
            laptop.Client.Plan(plan).Tell(ticket.StreamId, "hello", Seal(w, ticket)));
        Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);
        Assert.Empty(w.Stub.Requests);

        // The listener comes back, and reuse with it.
        await WaitForListenerAsync(w);
        await Task.Delay(TimeSpan.FromMilliseconds(1200)); // a ping on the new connection
        var again = await owner.Plan(plan).BeginTell();
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        var before = await ChecksAsync(w);
        await owner.Plan(plan).Tell(again.StreamId, "hello", Seal(w, again));
        var after = await ChecksAsync(w);
        Assert.Equal(before.Database, after.Database);
        Assert.Equal(StreamEventKind.Finished, (await StreamWorld.CollectAsync(owner, plan))[^1].Kind);
    }

    [Fact]
    public async Task Every_call_reuses_a_check_while_the_silo_listens_and_emptying_the_sessions_table_ends_them_all()
    {
        await using var w = await StreamWorld.StartAsync();
        var (owner, plan, laptop) = await SetUpAsync(w);
        await using var _ = owner;
        await using var __ = laptop;

        // A call that continues nothing (BeginTell: a tell's first call) 1.5 s after the last check reuses it.
        await laptop.Client.Plan(plan).Describe();
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        var before = await ChecksAsync(w);
        var ticket = await laptop.Client.Plan(plan).BeginTell();
        var after = await ChecksAsync(w);
        Assert.Equal(before.Database, after.Database);
        Assert.Equal(before.Reused + 1, after.Reused);

        // An operator empties the table (row triggers do not fire on TRUNCATE; migration 0010's statement trigger does):
        // 200 ms later every session's calls are refused, new calls and continuations alike.
        await w.Db.ExecAsync("TRUNCATE plandex_sessions");
        await Task.Delay(TimeSpan.FromMilliseconds(200));
        Assert.Contains("revoked", (await Assert.ThrowsAsync<AccessDeniedException>(() => laptop.Client.Plan(plan).Describe())).Message, StringComparison.Ordinal);
        Assert.Contains("revoked", (await Assert.ThrowsAsync<AccessDeniedException>(() => owner.Plan(plan).BeginTell())).Message, StringComparison.Ordinal);
        Assert.Contains("revoked", (await Assert.ThrowsAsync<AccessDeniedException>(() =>
            laptop.Client.Plan(plan).Tell(ticket.StreamId, "hello", Seal(w, ticket)))).Message, StringComparison.Ordinal);
        Assert.Empty(w.Stub.Requests);
    }

    [Fact]
    public async Task Without_its_listener_a_call_that_continues_nothing_asks_the_database_and_sees_a_revocation_at_once()
    {
        await using var w = await StreamWorld.StartAsync();
        var (owner, plan, laptop) = await SetUpAsync(w);
        await using var _ = owner;
        await using var __ = laptop;

        // A fresh check (well under the one-second fallback) when the listener's connection dies and the session is
        // revoked: the notification goes nowhere, yet the next new call must not be answered from the cache.
        await WaitForListenerAsync(w);
        await laptop.Client.Plan(plan).Describe();
        await KillListenerAndSeeItNoticedAsync(w);
        await RevokeBySqlAsync(w, laptop.TokenHash);
        var refused = await Assert.ThrowsAsync<AccessDeniedException>(() => laptop.Client.Plan(plan).BeginTell());
        Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);

        // The owner's session, checked moments ago too, is asked again while the silo does not listen. (Should the
        // listener be back by then, it forgot every check when it came back: the call is asked all the same.)
        await WaitForListenerAsync(w);
        await owner.Plan(plan).Describe();
        await KillListenerAndSeeItNoticedAsync(w);
        var before = await ChecksAsync(w);
        await owner.Plan(plan).Describe();
        Assert.Equal(before.Database + 1, (await ChecksAsync(w)).Database);
    }

    /// <summary>
    /// Ends the listener's connection and waits for the silo to log the loss: it notices at once when the machine is
    /// quiet, but a fixed 100 ms was not always enough under the full suite's load (CI, 2026-12-06).
    /// </summary>
    private static async Task KillListenerAndSeeItNoticedAsync(StreamWorld w)
    {
        static int Losses(StreamWorld w) => w.Silos[0].Lines.Count(l => l.Contains("Lost the ended-session listener", StringComparison.Ordinal));
        var before = Losses(w);
        Assert.Equal(1, await KillListenerAsync(w));
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (Losses(w) == before)
        {
            Assert.True(DateTime.UtcNow < until, "the silo never noticed its ended-session listener's connection end");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task A_silo_whose_database_cannot_notify_does_not_listen_and_asks_the_database()
    {
        await using var w = await StreamWorld.StartAsync();
        var (owner, plan, laptop) = await SetUpAsync(w);
        await using var _ = owner;
        await using var __ = laptop;

        // Someone disables the row trigger (revocations then notify nobody) and the listener reconnects: it must
        // refuse to listen rather than trust a silence that no longer means anything.
        await w.Db.ExecAsync("ALTER TABLE plandex_sessions DISABLE TRIGGER plandex_session_ended");
        await KillListenerAsync(w);
        await Task.Delay(TimeSpan.FromMilliseconds(2500)); // its reconnect (after 1 s) has checked the triggers and given up
        Assert.False(await ListenerUpAsync(w));

        await laptop.Client.Plan(plan).Describe();
        await RevokeBySqlAsync(w, laptop.TokenHash); // heard by no silo
        var refused = await Assert.ThrowsAsync<AccessDeniedException>(() => laptop.Client.Plan(plan).BeginTell());
        Assert.Contains("revoked", refused.Message, StringComparison.Ordinal);
    }
}
