using System.Text;
using Npgsql;
using NpgsqlTypes;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Plans;

/// <summary>A plan's conversation and context bodies, one row per item.</summary>
public sealed class PlanStore(NpgsqlDataSource db)
{
    public async Task AppendMessage(Guid planId, ConvoMessage m)
    {
        await using var cmd = db.CreateCommand(
            "INSERT INTO plandex_plan_messages (plan_id, seq, role, content, created_at, tokens) VALUES ($1, $2, $3, $4, $5, $6)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (int)m.Seq });
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.Role });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Encoding.UTF8.GetBytes(m.Content) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.At.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.Tokens });
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<IReadOnlyList<ConvoMessage>> Messages(Guid planId)
    {
        await using var cmd = db.CreateCommand("SELECT seq, role, content, created_at, tokens FROM plandex_plan_messages WHERE plan_id = $1 ORDER BY seq");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        var list = new List<ConvoMessage>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
            list.Add(new ConvoMessage(r.GetInt32(0), r.GetString(1), Encoding.UTF8.GetString(r.GetFieldValue<byte[]>(2)),
                new DateTimeOffset(r.GetDateTime(3), TimeSpan.Zero), r.GetInt32(4)));
        return list;
    }

    /// <summary>Upserts items in one transaction: all or nothing.</summary>
    public async Task UpsertContext(Guid planId, IReadOnlyList<(string Path, byte[] Body, byte[] Sha, int Tokens)> items, DateTimeOffset now)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        foreach (var (path, body, sha, tokens) in items)
        {
            await using var cmd = new NpgsqlCommand("""
                INSERT INTO plandex_context_items (plan_id, path, body, sha256, size, tokens, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (plan_id, path) DO UPDATE SET body = excluded.body, sha256 = excluded.sha256, size = excluded.size,
                    tokens = excluded.tokens, updated_at = excluded.updated_at
                """, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = path });
            cmd.Parameters.Add(new NpgsqlParameter { Value = body });
            cmd.Parameters.Add(new NpgsqlParameter { Value = sha });
            cmd.Parameters.Add(new NpgsqlParameter { Value = (long)body.Length });
            cmd.Parameters.Add(new NpgsqlParameter { Value = tokens });
            cmd.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            await cmd.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
    }

    public async Task<IReadOnlyList<ContextItemInfo>> ContextItems(Guid planId)
    {
        await using var cmd = db.CreateCommand("SELECT path, size, tokens, sha256, updated_at FROM plandex_context_items WHERE plan_id = $1 ORDER BY path");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        var list = new List<ContextItemInfo>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
            list.Add(new ContextItemInfo(r.GetString(0), r.GetInt64(1), r.GetInt32(2), Convert.ToHexStringLower(r.GetFieldValue<byte[]>(3)),
                new DateTimeOffset(r.GetDateTime(4), TimeSpan.Zero)));
        return list;
    }

    public async Task<int> RemoveContext(Guid planId, IReadOnlyList<string> paths)
    {
        await using var cmd = db.CreateCommand("DELETE FROM plandex_context_items WHERE plan_id = $1 AND path = ANY($2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = paths.ToArray() });
        return await cmd.ExecuteNonQueryAsync();
    }

    public async Task<string?> ContextBody(Guid planId, string path)
    {
        await using var cmd = db.CreateCommand("SELECT body FROM plandex_context_items WHERE plan_id = $1 AND path = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = path });
        return await cmd.ExecuteScalarAsync() is byte[] b ? Encoding.UTF8.GetString(b) : null;
    }

    /// <summary>Removes a plan's conversation and context and records the receipt, in one transaction.</summary>
    public async Task DeletePlanData(Guid planId, DeletionReceipt receipt, Guid orgId)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        foreach (var sql in new[] { "DELETE FROM plandex_plan_messages WHERE plan_id = $1", "DELETE FROM plandex_context_items WHERE plan_id = $1" })
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
            await cmd.ExecuteNonQueryAsync();
        }
        await using (var cmd = new NpgsqlCommand(
            "INSERT INTO plandex_deletion_receipts (id, kind, subject_id, org_id, deleted_by, deleted_at, purge_due) VALUES ($1, $2, $3, $4, $5, $6, $7)", conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.Id });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.Kind });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.SubjectId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = orgId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.DeletedBy });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.DeletedAt.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.PurgeDue.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            await cmd.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
    }

    public async Task<IReadOnlyList<DeletionReceipt>> Receipts(Guid orgId)
    {
        await using var cmd = db.CreateCommand(
            "SELECT id, kind, subject_id, deleted_by, deleted_at, purge_due, purged_at FROM plandex_deletion_receipts WHERE org_id = $1 ORDER BY deleted_at");
        cmd.Parameters.Add(new NpgsqlParameter { Value = orgId });
        var list = new List<DeletionReceipt>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync())
            list.Add(new DeletionReceipt(r.GetGuid(0), r.GetString(1), r.GetGuid(2), r.GetGuid(3),
                new DateTimeOffset(r.GetDateTime(4), TimeSpan.Zero), new DateTimeOffset(r.GetDateTime(5), TimeSpan.Zero),
                r.IsDBNull(6) ? null : new DateTimeOffset(r.GetDateTime(6), TimeSpan.Zero)));
        return list;
    }

    /// <summary>Context bodies in path order, for the model request.</summary>
    public async Task<IReadOnlyList<(string Path, string Body)>> ContextBodies(Guid planId)
    {
        await using var cmd = db.CreateCommand("SELECT path, body FROM plandex_context_items WHERE plan_id = $1 ORDER BY path");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        var list = new List<(string, string)>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) list.Add((r.GetString(0), Encoding.UTF8.GetString(r.GetFieldValue<byte[]>(1))));
        return list;
    }
}
