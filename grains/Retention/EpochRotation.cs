using Microsoft.Extensions.Options;
using Plandex.Grains.Accounts;
using Plandex.Grains.Encryption;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Retention;

/// <summary>What one rotation did.</summary>
public readonly record struct RotationResult(long Epoch, int Rewrapped, IReadOnlyList<long> Destroyed, int Purged, int EmailRows);

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
        var rewrapped = await ring.RewrapAllAsync(epoch, ct: ct);
        var emailRows = await emails.FillAsync(epoch, ct: ct);

        var destroyed = new List<long>();
        var cutoff = now - options.Value.Window;
        foreach (var e in ring.Epochs.List())
        {
            if (e >= epoch || DateTimeOffset.FromUnixTimeSeconds(e) > cutoff) break;
            // Safety: a key still wrapped under it means a re-wrap was missed, an account with no later lookup row a fill
            // was; keep the epoch rather than lose data or an account.
            if (await ring.CountAtOrBeforeAsync(e) > 0 || await emails.CountOnlyAtOrBeforeAsync(e) > 0) break;
            ring.Epochs.Destroy(e);
            ring.ForgetEpoch(e);
            destroyed.Add(e);
        }
        var oldest = ring.Epochs.List() is { Count: > 0 } live ? live[0] : epoch;
        await emails.DropBeforeAsync(oldest);
        await emails.DropStaleFailuresAsync(now - TimeSpan.FromDays(1));
        await emails.RetireLegacyKeyAsync(now);
        var purged = await deletions.MarkPurgedAsync(oldest, now);
        PlandexMetrics.KeysRewrapped.Add(rewrapped);
        PlandexMetrics.EpochsDestroyed.Add(destroyed.Count);
        PlandexMetrics.ReceiptsPurged.Add(purged);
        return new RotationResult(epoch, rewrapped, destroyed, purged, emailRows);
    }
}
