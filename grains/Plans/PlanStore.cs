using System.Text;
using Npgsql;
using NpgsqlTypes;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;

namespace Plandex.Grains.Plans;

/// <summary>
/// A plan's conversation and context, one row per item, sealed under the plan's data key (<see cref="Envelope"/>):
/// message text, context paths, digests and bodies never reach PostgreSQL in the clear. Context items are found
/// by a keyed hash of their path.
/// </summary>
public sealed class PlanStore(NpgsqlDataSource db, Envelope envelope, DeletionStore deletions)
{
    /// <summary>
    /// Stores message <c>m.Seq</c>, replacing a row left at that number by a write whose plan state was refused: the
    /// plan's message count says which rows are its conversation (<see cref="Messages"/>), and such a row is not one.
    /// </summary>
    public async Task AppendMessage(Guid planId, ConvoMessage m)
    {
        var sealedContent = await envelope.SealText(DataSubject.Plan(planId), $"message:{m.Seq}", m.Content);
        await using var cmd = db.CreateCommand("""
            INSERT INTO plandex_plan_messages (plan_id, seq, role, content, created_at, tokens) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (plan_id, seq) DO UPDATE
            SET role = EXCLUDED.role, content = EXCLUDED.content, created_at = EXCLUDED.created_at, tokens = EXCLUDED.tokens
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (int)m.Seq });
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.Role });
        cmd.Parameters.Add(new NpgsqlParameter { Value = sealedContent });
        cmd.Parameters.Add(Time(m.At));
        cmd.Parameters.Add(new NpgsqlParameter { Value = m.Tokens });
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>The conversation: messages 1 to <paramref name="count"/>, the plan's stored message count.</summary>
    public async Task<IReadOnlyList<ConvoMessage>> Messages(Guid planId, int count)
    {
        await using var cmd = db.CreateCommand("SELECT seq, role, content, created_at, tokens FROM plandex_plan_messages WHERE plan_id = $1 AND seq <= $2 ORDER BY seq");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = count });
        var rows = new List<(int Seq, string Role, byte[] Content, DateTime At, int Tokens)>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) rows.Add((r.GetInt32(0), r.GetString(1), r.GetFieldValue<byte[]>(2), r.GetDateTime(3), r.GetInt32(4)));
        var list = new List<ConvoMessage>(rows.Count);
        foreach (var row in rows)
            list.Add(new ConvoMessage(row.Seq, row.Role, await envelope.OpenText(DataSubject.Plan(planId), $"message:{row.Seq}", row.Content),
                new DateTimeOffset(row.At, TimeSpan.Zero), row.Tokens));
        return list;
    }

    /// <summary>Upserts items in one transaction: all or nothing.</summary>
    public async Task UpsertContext(Guid planId, IReadOnlyList<(string Path, byte[] Body, byte[] Sha, int Tokens)> items, DateTimeOffset now)
    {
        var plan = DataSubject.Plan(planId);
        var sealedRows = new List<(byte[] PathKey, byte[] Meta, byte[] Body, long Size, int Tokens)>(items.Count);
        foreach (var (path, body, sha, tokens) in items)
        {
            var pathKey = await envelope.LookupKey(plan, "context-path", path);
            var tag = Convert.ToHexStringLower(pathKey);
            sealedRows.Add((pathKey, await envelope.Seal(plan, "context-meta:" + tag, Meta(sha, path)),
                await envelope.Seal(plan, "context-body:" + tag, body), body.Length, tokens));
        }
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        foreach (var (pathKey, meta, body, size, tokens) in sealedRows)
        {
            await using var cmd = new NpgsqlCommand("""
                INSERT INTO plandex_context_items (plan_id, path_key, meta, body, size, tokens, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (plan_id, path_key) DO UPDATE SET meta = excluded.meta, body = excluded.body, size = excluded.size,
                    tokens = excluded.tokens, updated_at = excluded.updated_at
                """, conn, tx);
            cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = pathKey });
            cmd.Parameters.Add(new NpgsqlParameter { Value = meta });
            cmd.Parameters.Add(new NpgsqlParameter { Value = body });
            cmd.Parameters.Add(new NpgsqlParameter { Value = size });
            cmd.Parameters.Add(new NpgsqlParameter { Value = tokens });
            cmd.Parameters.Add(Time(now));
            await cmd.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
    }

    public async Task<IReadOnlyList<ContextItemInfo>> ContextItems(Guid planId)
    {
        await using var cmd = db.CreateCommand("SELECT path_key, meta, size, tokens, updated_at FROM plandex_context_items WHERE plan_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        var rows = new List<(byte[] PathKey, byte[] Meta, long Size, int Tokens, DateTime At)>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) rows.Add((r.GetFieldValue<byte[]>(0), r.GetFieldValue<byte[]>(1), r.GetInt64(2), r.GetInt32(3), r.GetDateTime(4)));
        var list = new List<ContextItemInfo>(rows.Count);
        foreach (var row in rows)
        {
            var (sha, path) = await OpenMeta(planId, row.PathKey, row.Meta);
            list.Add(new ContextItemInfo(path, row.Size, row.Tokens, Convert.ToHexStringLower(sha), new DateTimeOffset(row.At, TimeSpan.Zero)));
        }
        return list.OrderBy(i => i.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>Removes the items at <paramref name="paths"/>, all or none: returns the paths the plan has no item at, and then removes nothing.</summary>
    public async Task<IReadOnlyList<string>> RemoveContext(Guid planId, IReadOnlyList<string> paths)
    {
        var keys = new List<byte[]>(paths.Count);
        foreach (var p in paths) keys.Add(await envelope.LookupKey(DataSubject.Plan(planId), "context-path", p));
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using var cmd = new NpgsqlCommand("DELETE FROM plandex_context_items WHERE plan_id = $1 AND path_key = ANY($2) RETURNING path_key", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = keys.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        var removed = new HashSet<string>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) removed.Add(Convert.ToHexString((byte[])r[0]));
        var missing = paths.Where((_, i) => !removed.Contains(Convert.ToHexString(keys[i]))).ToList();
        if (missing.Count > 0) await tx.RollbackAsync();
        else await tx.CommitAsync();
        return missing;
    }

    public async Task<string?> ContextBody(Guid planId, string path)
    {
        var plan = DataSubject.Plan(planId);
        var pathKey = await envelope.LookupKey(plan, "context-path", path);
        await using var cmd = db.CreateCommand("SELECT body FROM plandex_context_items WHERE plan_id = $1 AND path_key = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = pathKey });
        return await cmd.ExecuteScalarAsync() is byte[] b
            ? await envelope.OpenText(plan, "context-body:" + Convert.ToHexStringLower(pathKey), b)
            : null;
    }

    /// <summary>Context bodies in path order, for the model request.</summary>
    public async Task<IReadOnlyList<(string Path, string Body)>> ContextBodies(Guid planId)
    {
        var plan = DataSubject.Plan(planId);
        await using var cmd = db.CreateCommand("SELECT path_key, meta, body FROM plandex_context_items WHERE plan_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
        var rows = new List<(byte[] PathKey, byte[] Meta, byte[] Body)>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) rows.Add((r.GetFieldValue<byte[]>(0), r.GetFieldValue<byte[]>(1), r.GetFieldValue<byte[]>(2)));
        var list = new List<(string, string)>(rows.Count);
        foreach (var row in rows)
        {
            var (_, path) = await OpenMeta(planId, row.PathKey, row.Meta);
            list.Add((path, await envelope.OpenText(plan, "context-body:" + Convert.ToHexStringLower(row.PathKey), row.Body)));
        }
        return list.OrderBy(i => i.Item1, StringComparer.Ordinal).ToList();
    }

    /// <summary>Removes the plan's conversation, context and data key and records the receipt, in one transaction.</summary>
    public Task DeletePlanData(Guid planId, DeletionReceipt receipt, Guid orgId) =>
        deletions.EraseAsync(receipt, orgId, async (conn, tx) =>
        {
            foreach (var sql in new[] { "DELETE FROM plandex_plan_messages WHERE plan_id = $1", "DELETE FROM plandex_context_items WHERE plan_id = $1" })
            {
                await using var cmd = new NpgsqlCommand(sql, conn, tx);
                cmd.Parameters.Add(new NpgsqlParameter { Value = planId });
                await cmd.ExecuteNonQueryAsync();
            }
        });

    private static byte[] Meta(byte[] sha, string path)
    {
        var p = Encoding.UTF8.GetBytes(path);
        var meta = new byte[sha.Length + p.Length];
        sha.CopyTo(meta, 0);
        p.CopyTo(meta, sha.Length);
        return meta;
    }

    private async Task<(byte[] Sha, string Path)> OpenMeta(Guid planId, byte[] pathKey, byte[] sealedMeta)
    {
        var meta = await envelope.Open(DataSubject.Plan(planId), "context-meta:" + Convert.ToHexStringLower(pathKey), sealedMeta);
        return (meta[..32], Encoding.UTF8.GetString(meta, 32, meta.Length - 32));
    }

    private static NpgsqlParameter Time(DateTimeOffset t) => new() { Value = t.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz };
}
