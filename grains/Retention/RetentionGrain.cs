using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Retention;

/// <summary>
/// Runs the retention schedule from durable (AdoNet) reminders: the epoch rotation once per epoch, and for
/// deletions a backup-expiry check at their purge-due time. Ticks may be late or repeated: an epoch tick is mapped
/// to its epoch and processed at most once, and every step it takes is idempotent anyway.
/// Its state (timestamps and a counter, no content) uses the plain "system" storage.
/// </summary>
internal sealed partial class RetentionGrain(
    [PersistentState("retention", "system")] IPersistentState<RetentionState> state,
    EpochRotation rotation,
    DeletionStore deletions,
    StateSweeper sweeper,
    Accounts.EmailEpochs emails,
    IOptions<RetentionOptions> options,
    TimeProvider time,
    ILogger<RetentionGrain> log) : Grain, IRetentionGrain, IRemindable
{
    public const string EpochReminder = "epoch";
    private const string ExpiryPrefix = "expiry-";
    private static readonly TimeSpan ExpiryBucket = TimeSpan.FromHours(1);

    // Volatile state: not persisted; gone on deactivation. Expiry reminders already registered by this activation.
    private readonly HashSet<string> _scheduled = [];

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        var now = time.GetUtcNow();
        if (reminderName == EpochReminder)
        {
            var epochStart = options.Value.EpochStart(now);
            if (epochStart <= state.State.LastEpochStart) return; // duplicate or early tick: this epoch is done
            await MoveLegacyEmailsAsync();
            // Grain-state rows that a deletion's interrupted second step left with ciphertext (rare): cleared here.
            var swept = await sweeper.SweepAsync(now);
            if (swept.Cleared > 0) LogSwept(log, swept.Cleared);
            if (swept.Failed > 0) LogSweepFailed(log, swept.Failed);
            var result = await rotation.RunAsync(now);
            state.State.LastEpochStart = epochStart;
            state.State.EpochTicks++;
            await state.WriteStateAsync();
            PlandexMetrics.RetentionEpochTicks.Add(1);
            LogEpoch(log, epochStart, result.Rewrapped, result.Destroyed.Count, result.Purged);
            ReportTrouble(result);
        }
        else if (reminderName.StartsWith(ExpiryPrefix, StringComparison.Ordinal)
                 && DateTimeOffset.TryParseExact(reminderName[ExpiryPrefix.Length..], "yyyyMMddHH", CultureInfo.InvariantCulture,
                     DateTimeStyles.AssumeUniversal, out var bucket))
        {
            var result = await rotation.RunAsync(now);
            ReportTrouble(result);
            var waiting = await deletions.UnpurgedDueByAsync(bucket);
            // Every deletion due by the bucket should be purged once it has passed: one that is not means a held
            // epoch (reported above) keeps its data readable in backups beyond the promise.
            if (waiting > 0 && now >= bucket) LogExpiryOverdue(log, bucket, result.Purged, waiting);
            else LogExpiryCheck(log, bucket, result.Purged, waiting);
            if (waiting == 0 && await this.GetReminder(reminderName) is { } done) await this.UnregisterReminder(done);
        }
    }

    /// <summary>
    /// Activates every account still found through the pre-epoch email key (migration 0011): activation moves its
    /// row to the epoch tables, so the rotation can then destroy that key.
    /// </summary>
    private async Task MoveLegacyEmailsAsync()
    {
        IReadOnlyList<Guid> previous = [];
        // Stops when a batch comes back unchanged (none of it moved): the next tick tries again. An account that
        // fails to activate stays behind (and keeps the old key) without stopping the rotation that follows.
        while (await emails.LegacyAccountsAsync(256) is { Count: > 0 } ids && !ids.SequenceEqual(previous))
        {
            var failed = (await Task.WhenAll(ids.Select(ActivateAsync))).Count(ok => !ok);
            if (failed > 0) LogLegacyStuck(log, failed);
            previous = ids;
        }

        async Task<bool> ActivateAsync(Guid id)
        {
            try { await GrainFactory.GetGrain<IAccountGrain>(id).Describe(); return true; }
            catch (Exception e) when (e is not OperationCanceledException) { return false; }
        }
    }

    /// <summary>Warns (ids and counts only) when a rotation met rows it could not read or had to keep an expired epoch.</summary>
    private void ReportTrouble(RotationResult result)
    {
        if (result.UnreadableKeys > 0 || result.UnreadableEmails > 0)
            LogUnreadable(log, result.UnreadableKeys, result.UnreadableEmails);
        if (result.Held is { } h)
            LogHeld(log, DateTimeOffset.FromUnixTimeSeconds(h.Epoch), options.Value.Window, h.Keys, h.FirstKey, h.Accounts, h.FirstAccount);
    }

    public Task<long> EpochTicks() => Task.FromResult(state.State.EpochTicks);

    public async Task ScheduleExpiryCheck(DateTimeOffset purgeDue)
    {
        var ticks = (purgeDue.UtcTicks + ExpiryBucket.Ticks - 1) / ExpiryBucket.Ticks * ExpiryBucket.Ticks;
        var bucket = new DateTimeOffset(ticks, TimeSpan.Zero);
        var name = ExpiryPrefix + bucket.ToString("yyyyMMddHH", CultureInfo.InvariantCulture);
        if (_scheduled.Contains(name)) return;
        if (await this.GetReminder(name) is null)
        {
            var due = bucket - time.GetUtcNow();
            await this.RegisterOrUpdateReminder(name, due > TimeSpan.Zero ? due : TimeSpan.Zero, ExpiryBucket);
        }
        _scheduled.Add(name);
    }

    public async Task EnsureScheduled()
    {
        if (await this.GetReminder(EpochReminder) is not null) return;
        // First tick just after the next epoch boundary, then once per epoch.
        var period = options.Value.EpochPeriod;
        var now = time.GetUtcNow();
        var next = options.Value.EpochStart(now) + period;
        var slack = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMinutes(1).Ticks, period.Ticks / 100));
        await this.RegisterOrUpdateReminder(EpochReminder, next - now + slack, period);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "retention epoch {EpochStart:u}: {Rewrapped} data keys re-wrapped, {Destroyed} epoch keys destroyed, {Purged} receipts purged")]
    private static partial void LogEpoch(ILogger logger, DateTimeOffset epochStart, int rewrapped, int destroyed, int purged);

    [LoggerMessage(Level = LogLevel.Information, Message = "backup-expiry check for deletions due by {Bucket:u}: {Purged} receipts purged, {Waiting} still waiting")]
    private static partial void LogExpiryCheck(ILogger logger, DateTimeOffset bucket, int purged, long waiting);

    [LoggerMessage(Level = LogLevel.Warning, Message = "backup-expiry check for deletions due by {Bucket:u}: {Purged} receipts purged, {Waiting} past their purge time and not purged (a held epoch key: see the retention warning)")]
    private static partial void LogExpiryOverdue(ILogger logger, DateTimeOffset bucket, int purged, long waiting);

    [LoggerMessage(Level = LogLevel.Warning, Message = "retention: cleared {Count} grain states that deletions had left with ciphertext (their second step was interrupted; the data keys were already gone)")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "retention: {Count} accounts still found through the pre-epoch email key failed to activate, so their rows were not moved (the old key stays until they are)")]
    private static partial void LogLegacyStuck(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "retention: the grain state of {Count} deletions could not be checked (unreadable row or storage error); tried again next tick")]
    private static partial void LogSweepFailed(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "retention: {Keys} data keys could not be unwrapped for re-wrapping and {Emails} account emails could not be opened (damaged rows or a missing epoch key); they stay under their old epochs, which are kept until the rows are restored")]
    private static partial void LogUnreadable(ILogger logger, int keys, int emails);

    [LoggerMessage(Level = LogLevel.Warning, Message = "retention: epoch key {Epoch:u} is past the {Window} window and kept: {Keys} data keys still wrapped under it or earlier (one: {FirstKey}), {Accounts} accounts with no email lookup row after it (one: {FirstAccount}); backups from before it still decrypt until it is destroyed")]
    private static partial void LogHeld(ILogger logger, DateTimeOffset epoch, TimeSpan window, long keys, Guid? firstKey, long accounts, Guid? firstAccount);
}
