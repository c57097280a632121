using Npgsql;

namespace Plandex.Tests.Infrastructure;

/// <summary>
/// A fresh database in the throwaway PostgreSQL, migrated by the real silo executable (as the migrate role), used
/// by silos as the runtime role. Dropped on dispose. The real <c>migrate</c> runs once per test run, into a template
/// every migrated database is copied from: a silo process per database cost ~2 s of CPU, a hundred times a run.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private TestDatabase(string name, string keyDirectory)
    {
        Name = name;
        KeyDirectory = keyDirectory;
    }

    public string Name { get; }
    public string KeyDirectory { get; }
    public string AdminConnectionString => new NpgsqlConnectionStringBuilder(TestEnv.PgAdmin) { Database = Name }.ConnectionString;
    public string AppConnectionString => new NpgsqlConnectionStringBuilder(TestEnv.PgApp) { Database = Name }.ConnectionString;

    public static async Task<TestDatabase> CreateAsync(bool migrate = true)
    {
        var name = "plx_" + Guid.NewGuid().ToString("N")[..12];
        await AdminExec(migrate ? $"CREATE DATABASE {name} TEMPLATE {await MigratedTemplateAsync()}" : $"CREATE DATABASE {name}");
        await AdminExec($"GRANT CONNECT ON DATABASE {name} TO plandex_app");
        return new TestDatabase(name, TestEnv.NewWorkDir("keys"));
    }

    private static readonly SemaphoreSlim TemplateGate = new(1, 1);
    private static string? _template;

    /// <summary>
    /// The database every migrated one is copied from, migrated by the silo executable on first use. Nothing else
    /// ever connects to it (PostgreSQL copies a template only while no one is connected).
    /// </summary>
    private static async Task<string> MigratedTemplateAsync()
    {
        await TemplateGate.WaitAsync();
        try
        {
            if (_template is not null) return _template;
            var name = "plx_template_" + Guid.NewGuid().ToString("N")[..8];
            await AdminExec($"CREATE DATABASE {name}");
            var r = await new TestDatabase(name, "").MigrateAsync();
            if (r.ExitCode != 0) throw new InvalidOperationException($"migrate failed: {r.Stderr}{r.Stdout}");
            return _template = name;
        }
        finally { TemplateGate.Release(); }
    }

    public Task<ProcessResult> MigrateAsync() =>
        ProcessRunner.DotnetAsync(TestEnv.SiloDll, ["migrate", "--grant-to", "plandex_app"],
            new Dictionary<string, string> { ["PLANDEX_Database__ConnectionString"] = AdminConnectionString });

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        var v = await cmd.ExecuteScalarAsync();
        return v is null or DBNull ? default : (T)v;
    }

    public async Task ExecAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Row counts of every table of ours: tests compare snapshots to prove a refused call changed nothing.</summary>
    public async Task<IReadOnlyDictionary<string, string>> SnapshotAsync()
    {
        var result = new SortedDictionary<string, string>();
        await using var conn = new NpgsqlConnection(AdminConnectionString);
        await conn.OpenAsync();
        var tables = new List<string>();
        await using (var cmd = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'orleansmembership%' ORDER BY 1", conn))
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) tables.Add(r.GetString(0));
        foreach (var t in tables)
        {
            // md5 of all rows catches updates too, not just inserts.
            await using var cmd = new NpgsqlCommand($"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {t} t", conn);
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            result[t] = $"{r.GetInt64(0)}:{r.GetString(1)}";
        }
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try { await AdminExec($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)"); } catch (NpgsqlException) { }
    }

    private static async Task AdminExec(string sql)
    {
        await using var conn = new NpgsqlConnection(TestEnv.PgAdmin);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
