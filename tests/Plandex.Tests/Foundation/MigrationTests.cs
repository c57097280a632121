using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Foundation;

public sealed class MigrationTests
{
    [Fact]
    public async Task Empty_database_then_rerun_is_a_noop()
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        var first = await db.MigrateAsync();
        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Contains("applied", first.Stdout);
        var applied = await db.ScalarAsync<long>("SELECT count(*) FROM plandex_schema_history");
        Assert.True(applied >= 5);
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM orleansquery WHERE querykey = 'WriteToStorageKey'"));

        var before = await db.SnapshotAsync();
        var second = await db.MigrateAsync();
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains("schema is up to date", second.Stdout);
        Assert.Equal(before, await db.SnapshotAsync());
    }

    [Fact]
    public async Task Two_concurrent_runs_apply_each_migration_once()
    {
        await using var db = await TestDatabase.CreateAsync(migrate: false);
        var runs = await Task.WhenAll(db.MigrateAsync(), db.MigrateAsync());
        Assert.All(runs, r => Assert.True(r.ExitCode == 0, r.Stderr));
        // Exactly one run applied the scripts; the other found the schema current.
        Assert.Single(runs, r => r.Stdout.Contains("applied"));
        Assert.Equal(await db.ScalarAsync<long>("SELECT count(*) FROM plandex_schema_history"),
            await db.ScalarAsync<long>("SELECT count(DISTINCT version) FROM plandex_schema_history"));
    }

    [Fact]
    public async Task Runtime_role_cannot_change_the_schema()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var conn = new Npgsql.NpgsqlConnection(db.AppConnectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("CREATE TABLE evil (x int)", conn);
        var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => cmd.ExecuteNonQueryAsync());
        Assert.Equal("42501", e.SqlState); // insufficient_privilege
    }

    // Ciphertext never compresses, so PostgreSQL's attempt (pglz over every value past ~2 KB) is wasted CPU on each
    // sealed write (migration 0013). A compressible value shows whether the attempt is made: compressed ('pglz')
    // under the default storage, stored as it is under EXTERNAL.
    [Fact]
    public async Task Sealed_columns_are_never_run_through_compression()
    {
        await using var db = await TestDatabase.CreateAsync();
        const string big = "convert_to(repeat('compressible ', 8000), 'UTF8')"; // 104 KB of a repeated word
        await db.ExecAsync($"""
            INSERT INTO plandex_plan_messages (plan_id, seq, role, content, created_at) VALUES (gen_random_uuid(), 1, 'assistant', {big}, now());
            INSERT INTO plandex_context_items (plan_id, path_key, meta, body, size, tokens, updated_at)
                VALUES (gen_random_uuid(), '\x01', {big}, {big}, 1, 1, now());
            INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, serviceid, payloadbinary, modifiedon)
                VALUES (1, 1, 1, 1, 'probe', 'probe', {big}, now());
            """);
        foreach (var (table, column) in new[] { ("plandex_plan_messages", "content"), ("plandex_context_items", "meta"),
                     ("plandex_context_items", "body"), ("orleansstorage", "payloadbinary") })
        {
            Assert.Equal(104_000, await db.ScalarAsync<int>($"SELECT octet_length({column}) FROM {table}"));
            Assert.Null(await db.ScalarAsync<string>($"SELECT pg_column_compression({column}) FROM {table}"));
        }
    }
}
