using Npgsql;
using NpgsqlTypes;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;

namespace Plandex.Grains.Retention;

/// <summary>
/// Erasing a subject from the live database and recording its receipt, in the caller's transaction: the data key
/// is dropped with the rows, so a rollback keeps both and a commit removes both. Receipts hold ids and times only.
/// </summary>
public sealed class DeletionStore(NpgsqlDataSource db, KeyRing ring, TimeProvider time, Microsoft.Extensions.Options.IOptions<RetentionOptions> options)
{
    /// <summary>A receipt for a deletion happening now: purge-due is now plus the retention window.</summary>
    public DeletionReceipt NewReceipt(string kind, Guid subjectId, Guid deletedBy)
    {
        var now = time.GetUtcNow();
        return new DeletionReceipt(Guid.NewGuid(), kind, subjectId, deletedBy, now, now + options.Value.Window, null);
    }

    /// <summary>Runs <paramref name="erase"/> and then drops the subject's key and writes the receipt, all in one transaction.</summary>
    public async Task EraseAsync(DeletionReceipt receipt, Guid? orgId, Func<NpgsqlConnection, NpgsqlTransaction, Task> erase)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await erase(conn, tx);
        var keyEpoch = await ring.DropAsync(receipt.SubjectId, conn, tx) ?? ring.CurrentEpoch();
        await using (var cmd = new NpgsqlCommand("""
            INSERT INTO plandex_deletion_receipts (id, kind, subject_id, org_id, deleted_by, deleted_at, purge_due, key_epoch)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.Id });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.Kind });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.SubjectId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)orgId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.DeletedBy });
            cmd.Parameters.Add(Time(receipt.DeletedAt));
            cmd.Parameters.Add(Time(receipt.PurgeDue));
            cmd.Parameters.Add(new NpgsqlParameter { Value = keyEpoch });
            await cmd.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
        ring.Forget(receipt.SubjectId);
    }

    /// <summary>Whether a deletion of the subject has been recorded already.</summary>
    public async Task<bool> HasReceiptAsync(Guid subjectId)
    {
        await using var cmd = db.CreateCommand("SELECT EXISTS (SELECT 1 FROM plandex_deletion_receipts WHERE subject_id = $1)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = subjectId });
        return (bool)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task<IReadOnlyList<DeletionReceipt>> ForOrgAsync(Guid orgId)
    {
        await using var cmd = db.CreateCommand(
            "SELECT id, kind, subject_id, deleted_by, deleted_at, purge_due, purged_at FROM plandex_deletion_receipts WHERE org_id = $1 ORDER BY deleted_at");
        cmd.Parameters.Add(new NpgsqlParameter { Value = orgId });
        return await ReadAsync(cmd);
    }

    /// <summary>
    /// Marks purged every receipt whose key was last wrapped under an epoch older than the oldest epoch still in
    /// the key store: no copy of its data can be decrypted any more. Idempotent; returns how many were marked.
    /// </summary>
    public async Task<int> MarkPurgedAsync(long oldestLiveEpoch, DateTimeOffset now)
    {
        await using var cmd = db.CreateCommand(
            "UPDATE plandex_deletion_receipts SET purged_at = $2 WHERE purged_at IS NULL AND key_epoch < $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = oldestLiveEpoch });
        cmd.Parameters.Add(Time(now));
        return await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Receipts due by <paramref name="by"/> and not yet purged.</summary>
    public async Task<long> UnpurgedDueByAsync(DateTimeOffset by)
    {
        await using var cmd = db.CreateCommand("SELECT count(*) FROM plandex_deletion_receipts WHERE purged_at IS NULL AND purge_due <= $1");
        cmd.Parameters.Add(Time(by));
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    private static NpgsqlParameter Time(DateTimeOffset t) => new() { Value = t.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz };

    private static async Task<IReadOnlyList<DeletionReceipt>> ReadAsync(NpgsqlCommand cmd)
    {
        var list = new List<DeletionReceipt>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
            list.Add(new DeletionReceipt(r.GetGuid(0), r.GetString(1), r.GetGuid(2), r.GetGuid(3),
                new DateTimeOffset(r.GetDateTime(4), TimeSpan.Zero), new DateTimeOffset(r.GetDateTime(5), TimeSpan.Zero),
                r.IsDBNull(6) ? null : new DateTimeOffset(r.GetDateTime(6), TimeSpan.Zero)));
        return list;
    }
}
