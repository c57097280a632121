using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Plandex.Grains.Accounts;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Security;

/// <summary>
/// Session checks for the authorization filter, and when an earlier check may answer instead of the database.
/// PostgreSQL tells every silo at commit when a session row is revoked, deleted or truncated away (migrations 0009
/// and 0010, heard by this class's LISTEN), and this silo's own revocations drop their checks before they return.
/// While that listener is confirmed alive, any call reuses a check of its session (at most <see cref="MaxReuse"/>
/// old; expiry is checked on every use): a cached check is then as current as the database, short of the moment a
/// notification takes to arrive. Without a live listener (starting, reconnecting, silent for
/// <see cref="ListenerSilence"/>, or a database without the triggers) only a continuation (a tell's Tell and
/// Subscribe, a watch's renewals and MoveNext) reuses a check, and only one at most <see cref="FallbackReuse"/> old;
/// every other call asks the database. Why not a fixed second for everything: one renewal per watcher per second each
/// found its check just over a second old, so a thousand users watching cost a thousand database queries a second
/// (about a seventh of a core for PostgreSQL alone at 2,000 streams here), a revoked session's running watch went on
/// for up to a second, and every tell's first call waited for a query (a quarter of a millisecond of its first token).
/// </summary>
public sealed partial class SessionChecks : BackgroundService
{
    internal const string Channel = "plandex_session_ended";
    /// <summary>The triggers that notify <see cref="Channel"/> (migrations 0009 and 0010): rows revoked or deleted; the table truncated.</summary>
    private static readonly string[] Triggers = ["plandex_session_ended", "plandex_sessions_truncated"];
    /// <summary>Reuse by a continuation without a live listener: the old rule, one second.</summary>
    internal static readonly TimeSpan FallbackReuse = TimeSpan.FromSeconds(1);
    /// <summary>Even with a live listener, a check is asked again after this long (expiry is checked on every use).</summary>
    internal static readonly TimeSpan MaxReuse = TimeSpan.FromMinutes(5);
    /// <summary>The listener proves its connection alive this often while no notification comes.</summary>
    internal static readonly TimeSpan ListenerHeartbeat = TimeSpan.FromSeconds(1);
    /// <summary>No sign of life from the listener for this long: it is treated as gone (bounds what a silently dead connection can miss).</summary>
    internal static readonly TimeSpan ListenerSilence = TimeSpan.FromSeconds(3);
    private const int MaxEntries = 100_000;
    /// <summary>The listener's keep-alive query; named so an operator (or a test) can find its connection.</summary>
    internal const string Ping = "SELECT 1 /* plandex session listener */";

    private readonly AccountStore _store;
    private readonly NpgsqlDataSource _db;
    private readonly TimeProvider _time;
    private readonly ILogger<SessionChecks> _log;

    // Not persisted; gone with the silo. Keyed by the token's hash (never the token); holds no secret.
    private readonly ConcurrentDictionary<string, Entry> _checked = new(StringComparer.Ordinal);
    // Bumped by every ended-session notification and every listener start or loss: a database check that was in
    // flight across one of them is not remembered (it may have read the row just before the revocation).
    private long _generation;
    // Real monotonic time (not the injectable clock): when the listener last proved alive; 0 = not listening.
    private long _aliveAt;

    private sealed record Entry(Guid Account, DateTimeOffset ExpiresAt, long CheckedAt, long Generation);

    public SessionChecks(AccountStore store, NpgsqlDataSource db, TimeProvider time, ILogger<SessionChecks> log)
    {
        (_store, _db, _time, _log) = (store, db, time, log);
        store.SessionsEnded += Forget;
    }

    /// <summary>True while a live listener would hear about any session that ends.</summary>
    public bool Listening
    {
        get
        {
            var at = Volatile.Read(ref _aliveAt);
            return at != 0 && System.Diagnostics.Stopwatch.GetElapsedTime(at) < ListenerSilence;
        }
    }

    /// <summary>
    /// The session's account, or null when the token hash names no live session. <paramref name="continuation"/>: the
    /// call continues one made moments ago, so without a live listener a check under a second old may still answer
    /// (see the class summary).
    /// </summary>
    public async Task<Guid?> CheckAsync(byte[] tokenHash, bool continuation)
    {
        var key = Convert.ToBase64String(tokenHash);
        var now = _time.GetUtcNow();
        if (_checked.TryGetValue(key, out var seen) && seen.ExpiresAt > now)
        {
            var age = _time.GetElapsedTime(seen.CheckedAt);
            if ((age < MaxReuse && Listening) || (continuation && age < FallbackReuse))
            {
                PlandexMetrics.SessionChecksReused.Add(1);
                return seen.Account;
            }
        }
        var generation = Volatile.Read(ref _generation);
        var live = await _store.ValidateSession(tokenHash, now);
        PlandexMetrics.SessionChecks.Add(1);
        if (live is null)
        {
            _checked.TryRemove(key, out _);
            return null;
        }
        Remember(key, new Entry(live.Value.Account, live.Value.ExpiresAt, _time.GetTimestamp(), generation));
        return live.Value.Account;
    }

    private void Remember(string key, Entry entry)
    {
        if (_checked.Count >= MaxEntries)
        {
            foreach (var (k, v) in _checked) // bounded: drop what can no longer be used
                if (_time.GetElapsedTime(v.CheckedAt) >= MaxReuse) _checked.TryRemove(k, out _);
            if (_checked.Count >= MaxEntries) return; // still full: this one is simply asked again next time
        }
        _checked[key] = entry;
        // A notification that came while the query ran may be about this very session: do not keep what it read.
        if (Volatile.Read(ref _generation) != entry.Generation) _checked.TryRemove(new KeyValuePair<string, Entry>(key, entry));
    }

    /// <summary>Drops every check of <paramref name="account"/>'s sessions (one of them ended).</summary>
    private void Forget(Guid account)
    {
        Interlocked.Increment(ref _generation);
        foreach (var (k, v) in _checked)
            if (v.Account == account) _checked.TryRemove(k, out _);
    }

    private void ForgetAll()
    {
        Interlocked.Increment(ref _generation);
        _checked.Clear();
    }

    // The listener: one connection per silo that LISTENs for ended sessions. Any failure forgets everything and
    // reconnects; until it is back, only continuations reuse checks, for one second.
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            NpgsqlConnection? conn = null;
            try
            {
                conn = await _db.OpenConnectionAsync(ct);
                // Without both triggers (a database not migrated to 0010, or one disabled) a notification might never
                // come: stay on the fallback rule rather than trust silence.
                await using (var trigger = new NpgsqlCommand(
                    "SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgrelid = 'plandex_sessions'::regclass AND tgname IN ('"
                    + string.Join("', '", Triggers) + "') AND tgenabled <> 'D'", conn))
                    if ((long)(await trigger.ExecuteScalarAsync(ct))! != Triggers.Length) throw new InvalidOperationException("a plandex_sessions trigger is missing or disabled (run migrate)");
                conn.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand("LISTEN " + Channel, conn)) await listen.ExecuteNonQueryAsync(ct);
                ForgetAll(); // whatever ended while no one listened is not in the cache any more
                Volatile.Write(ref _aliveAt, System.Diagnostics.Stopwatch.GetTimestamp());
                LogListening(_log);
                failures = 0;
                while (true)
                {
                    if (!await conn.WaitAsync(ListenerHeartbeat, ct))
                    {
                        await using var ping = new NpgsqlCommand(Ping, conn) { CommandTimeout = 2 };
                        await ping.ExecuteScalarAsync(ct);
                    }
                    Volatile.Write(ref _aliveAt, System.Diagnostics.Stopwatch.GetTimestamp());
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException or OperationCanceledException)
            {
                Volatile.Write(ref _aliveAt, 0);
                ForgetAll();
                LogListenerLost(_log, e is InvalidOperationException ? e.Message : e.GetType().Name);
            }
            finally
            {
                Volatile.Write(ref _aliveAt, 0);
                if (conn is not null)
                {
                    conn.Notification -= OnNotification;
                    // The pool keeps session state (No Reset On Close): leave no LISTEN behind on a healthy connection.
                    try { if (conn.FullState == System.Data.ConnectionState.Open) { await using var unlisten = new NpgsqlCommand("UNLISTEN *", conn); await unlisten.ExecuteNonQueryAsync(CancellationToken.None); } }
                    catch (Exception e) when (e is NpgsqlException or IOException or InvalidOperationException) { }
                    await conn.DisposeAsync();
                }
            }
            // Lost (the connection is gone by now): back off (1 s, 2 s, 4 s … at most 30 s) so a database that stays
            // away is not hammered.
            var wait = TimeSpan.FromSeconds(Math.Min(30, 1 << Math.Min(failures++, 5)));
            try { await Task.Delay(wait, ct); } catch (OperationCanceledException) { break; }
        }
    }

    private void OnNotification(object? sender, NpgsqlNotificationEventArgs e)
    {
        Volatile.Write(ref _aliveAt, System.Diagnostics.Stopwatch.GetTimestamp());
        if (Guid.TryParse(e.Payload, out var account)) Forget(account);
        else ForgetAll();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Listening for ended sessions")]
    private static partial void LogListening(ILogger log);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the ended-session listener ({Error}); sessions are checked in the database (continuations: every second) until it is back")]
    private static partial void LogListenerLost(ILogger log, string error);
}
