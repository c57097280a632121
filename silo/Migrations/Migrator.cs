using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Plandex.Silo.Migrations;

/// <summary>
/// Applies the embedded, versioned SQL scripts in order, each in its own transaction, recording them in
/// <c>plandex_schema_history</c>. Idempotent; concurrent runs serialize on a PostgreSQL advisory lock, so two silos
/// starting at once apply every script exactly once. Needs DDL rights (the migrate role), unlike the runtime.
/// </summary>
internal sealed class Migrator(NpgsqlDataSource db)
{
    // Arbitrary constant shared by every migrator of this schema.
    private const long AdvisoryLockKey = 0x706C616E646578; // "plandex"

    public sealed record Script(int Version, string Name, string Sql, string Checksum);

    public static IReadOnlyList<Script> EmbeddedScripts()
    {
        var asm = typeof(Migrator).Assembly;
        return asm.GetManifestResourceNames()
            .Where(n => n.EndsWith(".sql", StringComparison.Ordinal) && n.Contains(".Migrations.", StringComparison.Ordinal))
            .Select(n =>
            {
                var file = n[(n.IndexOf(".Migrations.", StringComparison.Ordinal) + 12)..];
                using var s = asm.GetManifestResourceStream(n)!;
                using var r = new StreamReader(s, Encoding.UTF8);
                var sql = r.ReadToEnd();
                var version = int.Parse(file[..file.IndexOf('_')], System.Globalization.CultureInfo.InvariantCulture);
                return new Script(version, file, sql, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql))));
            })
            .OrderBy(s => s.Version)
            .ToList();
    }

    /// <returns>The names of the scripts this run applied (empty when the schema was current).</returns>
    public async Task<IReadOnlyList<string>> MigrateAsync(string? grantRuntimeRole, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await Exec(conn, "SELECT pg_advisory_lock(@k)", ct, ("k", AdvisoryLockKey));
        try
        {
            await Exec(conn, """
                CREATE TABLE IF NOT EXISTS plandex_schema_history (
                    version    integer PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, ct);
            var applied = new Dictionary<int, string>();
            await using (var cmd = new NpgsqlCommand("SELECT version, checksum FROM plandex_schema_history", conn))
            await using (var rd = await cmd.ExecuteReaderAsync(ct))
                while (await rd.ReadAsync(ct)) applied[rd.GetInt32(0)] = rd.GetString(1);

            var done = new List<string>();
            foreach (var script in EmbeddedScripts())
            {
                if (applied.TryGetValue(script.Version, out var checksum))
                {
                    if (checksum != script.Checksum)
                        throw new InvalidOperationException($"migration {script.Name} was changed after it was applied (checksum differs); add a new migration instead");
                    continue;
                }
                await using var tx = await conn.BeginTransactionAsync(ct);
                await using (var cmd = new NpgsqlCommand(script.Sql, conn, tx)) await cmd.ExecuteNonQueryAsync(ct);
                await Exec(conn, "INSERT INTO plandex_schema_history (version, name, checksum) VALUES (@v, @n, @c)", ct,
                    ("v", script.Version), ("n", script.Name), ("c", script.Checksum));
                await tx.CommitAsync(ct);
                done.Add(script.Name);
            }

            if (!string.IsNullOrEmpty(grantRuntimeRole)) await GrantRuntimeRole(conn, grantRuntimeRole, ct);
            return done;
        }
        finally
        {
            await Exec(conn, "SELECT pg_advisory_unlock(@k)", CancellationToken.None, ("k", AdvisoryLockKey));
        }
    }

    // The runtime role reads and writes rows and calls the providers' functions; it cannot change the schema.
    private static async Task GrantRuntimeRole(NpgsqlConnection conn, string role, CancellationToken ct)
    {
        var r = new NpgsqlCommandBuilder().QuoteIdentifier(role);
        await Exec(conn, $"""
            GRANT USAGE ON SCHEMA public TO {r};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r};
            GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {r};
            REVOKE CREATE ON SCHEMA public FROM {r};
            """, ct);
    }

    private static async Task Exec(NpgsqlConnection conn, string sql, CancellationToken ct, params (string, object)[] ps)
    {
        await using var cmd = new NpgsqlCommand(sql, conn);
        foreach (var (n, v) in ps) cmd.Parameters.AddWithValue(n, v);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
