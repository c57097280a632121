using System.Diagnostics.Metrics;

namespace Plandex.Grains.Telemetry;

/// <summary>
/// The project's own meter. Tags carry only counts and outcome names: never ids, keys, tokens or content.
/// </summary>
public static class PlandexMetrics
{
    public const string MeterName = "Plandex";
    private static readonly Meter Meter = new(MeterName, "1.0");
    private static long _activeSessions;
    private static long _readySessions;

    public static readonly Counter<long> StreamsStarted = Meter.CreateCounter<long>("plandex.streams.started");
    public static readonly Counter<long> StreamsEnded = Meter.CreateCounter<long>("plandex.streams.ended");
    public static readonly Counter<long> AuthDenied = Meter.CreateCounter<long>("plandex.auth.denied");
    /// <summary>Session checks the authorization filter asked PostgreSQL for, and those an earlier check answered.</summary>
    public static readonly Counter<long> SessionChecks = Meter.CreateCounter<long>("plandex.auth.session_checks");
    public static readonly Counter<long> SessionChecksReused = Meter.CreateCounter<long>("plandex.auth.session_checks_reused");
    public static readonly Counter<long> RetentionEpochTicks = Meter.CreateCounter<long>("plandex.retention.epoch_ticks");
    public static readonly Counter<long> KeysRewrapped = Meter.CreateCounter<long>("plandex.retention.keys_rewrapped");
    public static readonly Counter<long> EpochsDestroyed = Meter.CreateCounter<long>("plandex.retention.epochs_destroyed");
    public static readonly Counter<long> ReceiptsPurged = Meter.CreateCounter<long>("plandex.retention.receipts_purged");
    /// <summary>
    /// Rotations that had to keep an epoch key past the retention window (a key or an account still needs it): while
    /// this grows, backups older than the window still decrypt. Alert on any increase.
    /// </summary>
    public static readonly Counter<long> EpochsHeld = Meter.CreateCounter<long>("plandex.retention.epochs_held");
    /// <summary>
    /// Data keys and sealed emails a rotation could not read (damaged rows, a missing epoch key): each will hold its
    /// epoch past the window unless restored. The early warning, days before <see cref="EpochsHeld"/>.
    /// </summary>
    public static readonly Counter<long> RowsUnreadable = Meter.CreateCounter<long>("plandex.retention.rows_unreadable");

    static PlandexMetrics()
    {
        // Ops (and tests) watch this to see a session grain leave memory after its stream ends.
        Meter.CreateObservableGauge("plandex.sessions.active", () => Interlocked.Read(ref _activeSessions));
        // Sessions opened ahead of tells (Streams.ReadySessions) and not started yet: no key, only a one-time key pair.
        Meter.CreateObservableGauge("plandex.sessions.ready", () => Interlocked.Read(ref _readySessions));
    }

    /// <summary>Creates the instruments now, so /metrics lists them before their first use.</summary>
    public static void Initialize() => _ = StreamsStarted;

    /// <summary>Stream sessions active on this silo now.</summary>
    public static long ActiveSessions => Interlocked.Read(ref _activeSessions);

    public static void SessionActivated() => Interlocked.Increment(ref _activeSessions);
    public static void SessionDeactivated() => Interlocked.Decrement(ref _activeSessions);
    /// <summary>Sessions opened ahead of tells on this silo and not started yet (ready, or reserved by a tell).</summary>
    public static long ReadySessionCount => Interlocked.Read(ref _readySessions);

    public static void ReadySessionOpened() => Interlocked.Increment(ref _readySessions);
    public static void ReadySessionGone() => Interlocked.Decrement(ref _readySessions);
}
