using Microsoft.Extensions.Options;
using Plandex.Grains.Accounts;
using Plandex.Grains.Encryption;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Retention;

/// <summary>What one rotation did. <see cref="Held"/>: the epoch past the window it had to keep, if any.</summary>
public readonly record struct RotationResult(long Epoch, int Rewrapped, IReadOnlyList<long> Destroyed, int Purged, int EmailRows,
    EpochHold? Held = null, int UnreadableKeys = 0, int UnreadableEmails = 0);

/// <summary>
/// Why an epoch past the retention window was kept: live data keys still wrapped under it or earlier, or accounts
/// with no email lookup row after it (counts, and one subject of each for the operator to look at).
/// </summary>
public sealed record EpochHold(long Epoch, long Keys, Guid? FirstKey, long Accounts, Guid? FirstAccount);

/// <summary>
/// One epoch step, idempotent (running it twice at the same time changes nothing the second time):
/// make the epoch key for <c>now</c>, re-wrap every live data key under it, give every account its email lookup row
/// in it, destroy epoch keys whose start is at least the retention window old (never one a live key or an account's
/// only lookup row still needs) with the lookup rows and invites made under them, and mark receipts purged whose key
/// epoch is gone. A deleted subject's key is never re-wrapped, so it dies with the last epoch that wrapped it: at most
/// the window after the deletion.
/// </summary>
public sealed class EpochRotation(KeyRing ring, DeletionStore deletions, EmailEpochs emails, IOptions<RetentionOptions> options)
{
    public async Task<RotationResult> RunAsync(DateTimeOffset now, CancellationToken ct = default)
    {
        var epoch = ring.EpochOf(now);
        ring.Epochs.EnsureCreated(epoch);
        var rewrap = await ring.RewrapAllAsync(epoch, ct: ct);
        var fill = await emails.FillAsync(epoch, ct: ct);

        var destroyed = new List<long>();
        EpochHold? held = null;
        var cutoff = now - options.Value.Window;
        foreach (var e in ring.Epochs.List())
        {
            if (e >= epoch || DateTimeOffset.FromUnixTimeSeconds(e) > cutoff) break;
            // Safety: a key still wrapped under it means a re-wrap was missed (or its row cannot be read), an account
            // with no later lookup row a fill was; keep the epoch rather than lose data or an account, and say so:
            // until it goes, backups from before it still decrypt (RetentionGrain warns, the counter counts).
            var keys = await ring.KeysAtOrBeforeAsync(e);
            var accounts = await emails.AccountsOnlyAtOrBeforeAsync(e);
            if (keys.Count > 0 || accounts.Count > 0)
            {
                held = new EpochHold(e, keys.Count, keys.First, accounts.Count, accounts.First);
                PlandexMetrics.EpochsHeld.Add(1);
                break;
            }
            ring.Epochs.Destroy(e);
            ring.ForgetEpoch(e);
            destroyed.Add(e);
        }
        var oldest = ring.Epochs.List() is { Count: > 0 } live ? live[0] : epoch;
        await emails.DropBeforeAsync(oldest);
        await emails.DropStaleFailuresAsync(now - TimeSpan.FromDays(1));
        await emails.RetireLegacyKeyAsync(now);
        var purged = await deletions.MarkPurgedAsync(oldest, now);
        PlandexMetrics.KeysRewrapped.Add(rewrap.Rewrapped);
        PlandexMetrics.RowsUnreadable.Add(rewrap.Unreadable.Count + fill.Unreadable.Count);
        PlandexMetrics.EpochsDestroyed.Add(destroyed.Count);
        PlandexMetrics.ReceiptsPurged.Add(purged);
        return new RotationResult(epoch, rewrap.Rewrapped, destroyed, purged, fill.Added, held, rewrap.Unreadable.Count, fill.Unreadable.Count);
    }
}
