using System.Diagnostics;
using Npgsql;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.KeyHygiene;

/// <summary>Collects what a server left behind (process memory, database, PostgreSQL files) and scans it.</summary>
public static class Evidence
{
    /// <summary>The runtime's own dump writer, shipped next to System.Private.CoreLib.</summary>
    public static string CreateDumpPath =>
        Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "createdump");

    /// <summary>
    /// A full memory dump (<c>createdump --full</c>) of a live process, scanned block by block and deleted.
    /// Returns the result and the dump's size; throws when no dump could be written (a scan of nothing proves nothing).
    /// </summary>
    public static async Task<(ScanResult Result, long Bytes, TimeSpan Took)> ScanProcessMemoryAsync(int pid, CanaryScanner scanner)
    {
        var dir = TestEnv.NewWorkDir("dump");
        var file = Path.Combine(dir, $"silo-{pid}.dmp");
        var sw = Stopwatch.StartNew();
        try
        {
            var r = await ProcessRunner.RunAsync(CreateDumpPath, ["--full", "-f", file, pid.ToString()], timeout: TimeSpan.FromMinutes(2));
            if (r.ExitCode != 0 || !File.Exists(file))
                throw new InvalidOperationException($"createdump of {pid} failed ({r.ExitCode}): {r.Stdout}{r.Stderr}");
            var bytes = new FileInfo(file).Length;
            if (bytes < 10_000_000) throw new InvalidOperationException($"createdump of {pid} wrote only {bytes} bytes");
            var result = scanner.ScanFile(file);
            return (result, bytes, sw.Elapsed);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Plain-SQL <c>pg_dump</c> of the whole database (schema and every row) as the admin role.</summary>
    public static async Task<byte[]> PgDumpAsync(TestDatabase db)
    {
        var cs = new NpgsqlConnectionStringBuilder(db.AdminConnectionString);
        var dir = TestEnv.NewWorkDir("pgdump");
        var file = Path.Combine(dir, "db.sql");
        try
        {
            var r = await ProcessRunner.RunAsync(Path.Combine(TestEnv.PgBin, "pg_dump"),
                ["-h", cs.Host!, "-p", cs.Port.ToString(), "-U", cs.Username!, "-d", cs.Database!, "--no-password", "-f", file],
                new Dictionary<string, string> { ["PGPASSWORD"] = cs.Password! });
            if (r.ExitCode != 0) throw new InvalidOperationException($"pg_dump failed ({r.ExitCode}): {r.Stderr}");
            return await File.ReadAllBytesAsync(file);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Every file of the PostgreSQL cluster (heap files, WAL, ...) after a CHECKPOINT, so rows that were written and
    /// later deleted or updated away (still in WAL or dead tuples) are searched too, not only what pg_dump sees.
    /// </summary>
    public static async Task<(ScanResult Result, int Files, long Bytes)> ScanPgDataAsync(TestDatabase db, CanaryScanner scanner)
    {
        await db.ExecAsync("CHECKPOINT");
        return scanner.ScanDirectory(TestEnv.PgDataDir);
    }
}
