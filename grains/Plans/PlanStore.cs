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
