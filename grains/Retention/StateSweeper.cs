using Npgsql;
using NpgsqlTypes;
using Orleans.Storage;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;

namespace Plandex.Grains.Retention;

/// <summary>
/// The second step of a deletion, retried. A deletion removes a subject's rows and data key in one transaction and
/// deletes its sealed grain-state row right after (Orleans' storage cannot join that transaction). Should the second
/// step fail (the silo dies in between, the database drops the connection), the row keeps ciphertext whose key is
/// already gone. Each epoch tick checks every deletion not checked yet, once, and clears such a row, through the same
/// Orleans storage the grains use (the inner, unsealed one: seeing a row's blob needs no key), so nothing here
/// depends on Orleans' table layout. Deletions younger than <see cref="Grace"/> are left to their own grain, which may
/// be clearing the row right now (clearing it first would fail that deletion on a stale ETag).
/// </summary>
public sealed class StateSweeper(NpgsqlDataSource db, IGrainStorage storage, IGrainFactory grains)
{
    /// <summary>How old a deletion must be before its row is checked.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    /// <summary>
    /// Checks deletions made before <c>now - Grace</c> and not checked yet. A receipt whose row cannot be read or
    /// cleared stays unchecked (tried again next tick) and is counted, so one bad row does not stop the rest.
    /// </summary>
    public async Task<SweepResult> SweepAsync(DateTimeOffset now, int batchSize = 500, CancellationToken ct = default)
    {
        var (cleared, failed) = (0, new List<Guid>());
        while (true)
        {
            var receipts = new List<(Guid Receipt, string Kind, Guid Subject)>(batchSize);
            await using (var cmd = db.CreateCommand("""
                SELECT id, kind, subject_id FROM plandex_deletion_receipts
                 WHERE state_checked_at IS NULL AND deleted_at < $1 AND kind = ANY($2) AND id <> ALL($3)
                 ORDER BY deleted_at LIMIT $4
                """))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = (now - Grace).UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
                cmd.Parameters.Add(new NpgsqlParameter { Value = new[] { "plan", "account", "org" } });
                cmd.Parameters.Add(new NpgsqlParameter { Value = failed.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
                cmd.Parameters.Add(new NpgsqlParameter { Value = batchSize });
                await using var r = await cmd.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) receipts.Add((r.GetGuid(0), r.GetString(1), r.GetGuid(2)));
            }
            if (receipts.Count == 0) return new SweepResult(cleared, failed.Count);

            var checkedIds = new List<Guid>(receipts.Count);
            foreach (var (receipt, kind, id) in receipts)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    if (await ClearIfContentAsync(kind, id)) cleared++;
                    checkedIds.Add(receipt);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed.Add(receipt);
                }
            }
            await using var mark = db.CreateCommand("UPDATE plandex_deletion_receipts SET state_checked_at = $1 WHERE id = ANY($2)");
            mark.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            mark.Parameters.Add(new NpgsqlParameter { Value = checkedIds.ToArray() });
            await mark.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>
    /// Deletes the subject's grain-state row if it still holds content; true if it did. For a subject whose grain is
    /// not active (a deleted one, or one that cannot activate): an active grain would see its ETag go stale.
    /// </summary>
    public async Task<bool> ClearIfContentAsync(string kind, Guid id)
    {
        var grainId = kind switch
        {
            "plan" => grains.GetGrain<IPlanGrain>(id).GetGrainId(),
            "account" => grains.GetGrain<IAccountGrain>(id).GetGrainId(),
            _ => grains.GetGrain<IOrgGrain>(id).GetGrainId(),
        };
        // The state name is the receipt's kind (SealedGrainStorage maps the same names to data-key subjects).
        var stored = new GrainState<SealedState>(new SealedState());
        await storage.ReadStateAsync(kind, grainId, stored);
        if (stored.State?.Blob is not { Length: > 0 }) return false;
        await storage.ClearStateAsync(kind, grainId, stored);
        return true;
    }
}

/// <summary>What a sweep did: rows cleared, and receipts whose row could not be checked (retried next tick).</summary>
public readonly record struct SweepResult(int Cleared, int Failed);
