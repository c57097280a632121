using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;

namespace Plandex.Tests.Deletion;

/// <summary>
/// An independent re-implementation of the product's key format (not its code): a data key is stored as
/// nonce(12) | tag(16) | ciphertext(32), AES-256-GCM under the epoch key file <c>epoch-&lt;id&gt;.kek</c>, with
/// associated data = subject Guid bytes | epoch id (int64 little-endian). Content blobs are
/// version(1) | nonce(12) | tag(16) | ciphertext under the data key, associated data = subject Guid bytes | purpose.
/// If the product drifted from this, the tests that use it fail instead of proving nothing.
/// </summary>
internal static class DataKeys
{
    public static string EpochDirectory(TestDatabase db) => Path.Combine(db.KeyDirectory, "epochs");

    public static IReadOnlyList<long> EpochFiles(TestDatabase db) =>
        Directory.Exists(EpochDirectory(db))
            ? Directory.GetFiles(EpochDirectory(db), "epoch-*.kek")
                .Select(p => long.Parse(Path.GetFileName(p)["epoch-".Length..^".kek".Length], CultureInfo.InvariantCulture))
                .Order().ToList()
            : [];

    /// <summary>Flips one bit of the subject's wrapped data key: it no longer authenticates (a damaged row).</summary>
    public static Task DamageAsync(TestDatabase db, Guid subject) =>
        db.ExecAsync($"UPDATE plandex_data_keys SET wrapped = set_byte(wrapped, 40, get_byte(wrapped, 40) # 1) WHERE subject_id = '{subject}'");

    public static async Task<(long Epoch, byte[] Wrapped)?> ReadWrappedAsync(TestDatabase db, Guid subject)
    {
        await using var conn = new NpgsqlConnection(db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT epoch, wrapped FROM plandex_data_keys WHERE subject_id = $1", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = subject });
        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync() ? (r.GetInt64(0), r.GetFieldValue<byte[]>(1)) : null;
    }

    /// <summary>The subject's data key in the clear, computed from the database row and the epoch key file.</summary>
    public static async Task<byte[]> UnwrapAsync(TestDatabase db, Guid subject)
    {
        var row = await ReadWrappedAsync(db, subject) ?? throw new InvalidOperationException($"no data key row for {subject}");
        var kek = await File.ReadAllBytesAsync(Path.Combine(EpochDirectory(db), $"epoch-{row.Epoch.ToString(CultureInfo.InvariantCulture)}.kek"));
        Assert.Equal(32, kek.Length);
        Assert.Equal(12 + 16 + 32, row.Wrapped.Length);
        var aad = new byte[24];
        Assert.True(subject.TryWriteBytes(aad));
        BinaryPrimitives.WriteInt64LittleEndian(aad.AsSpan(16), row.Epoch);
        var key = new byte[32];
        using var gcm = new AesGcm(kek, 16);
        gcm.Decrypt(row.Wrapped.AsSpan(0, 12), row.Wrapped.AsSpan(28), row.Wrapped.AsSpan(12, 16), key, aad);
        return key;
    }

    public static string OpenText(byte[] key, Guid subject, string purpose, byte[] blob) =>
        Encoding.UTF8.GetString(Open(key, subject, purpose, blob));

    public static byte[] Open(byte[] key, Guid subject, string purpose, byte[] blob)
    {
        Assert.Equal(1, blob[0]);
        var p = Encoding.UTF8.GetBytes(purpose);
        var aad = new byte[16 + p.Length];
        Assert.True(subject.TryWriteBytes(aad));
        p.CopyTo(aad, 16);
        var plain = new byte[blob.Length - 29];
        using var gcm = new AesGcm(key, 16);
        gcm.Decrypt(blob.AsSpan(1, 12), blob.AsSpan(29), blob.AsSpan(13, 16), plain, aad);
        return plain;
    }
}

/// <summary>
/// Searches bytes and directories for many secrets at once, in every form they could take: text secrets as
/// UTF-8 and UTF-16LE; binary secrets (keys) raw; both as hex (lower, upper) and base64 (the three alignments
/// inside a longer base64 text, standard and URL alphabet), those text forms also as UTF-16LE.
/// </summary>
internal sealed class SecretScanner
{
    private readonly List<(string Name, byte[] Bytes)> _patterns = [];

    public SecretScanner AddText(string name, string secret)
    {
        var utf8 = Encoding.UTF8.GetBytes(secret);
        _patterns.Add(($"{name}/utf8", utf8));
        _patterns.Add(($"{name}/utf16le", Encoding.Unicode.GetBytes(secret)));
        AddEncodings(name, utf8);
        return this;
    }

    public SecretScanner AddBytes(string name, byte[] secret)
    {
        _patterns.Add(($"{name}/raw", secret.ToArray()));
        AddEncodings(name, secret);
        return this;
    }

    public int Secrets => _patterns.Select(p => p.Name.Split('/')[0]).Distinct().Count();

    private void AddEncodings(string name, byte[] data)
    {
        var text = new List<(string, string)> { ("hex", Convert.ToHexStringLower(data)), ("HEX", Convert.ToHexString(data)) };
        for (var align = 0; align < 3; align++)
        {
            var padded = new byte[align + data.Length];
            data.CopyTo(padded, align);
            var full = padded.Length / 3 * 3;
            var start = align == 0 ? 0 : 3;
            var b64 = Convert.ToBase64String(padded, start, full - start);
            text.Add(($"base64[{align}]", b64));
            text.Add(($"base64url[{align}]", b64.Replace('+', '-').Replace('/', '_')));
        }
        foreach (var (form, s) in text.DistinctBy(t => t.Item2))
        {
            _patterns.Add(($"{name}/{form}", Encoding.ASCII.GetBytes(s)));
            _patterns.Add(($"{name}/{form}/utf16le", Encoding.Unicode.GetBytes(s)));
        }
    }

    public ScanResult Scan(ReadOnlySpan<byte> data) => Scanner().Scan(data);

    /// <summary>Every file under <paramref name="dir"/>, streamed in blocks (the key-hygiene scanner does the reading).</summary>
    public (ScanResult Result, int Files, long Bytes) ScanDirectory(string dir) => Scanner().ScanDirectory(dir);

    private CanaryScanner Scanner() => new("secrets", _patterns);

    /// <summary>A plain pg_dump of the database and PostgreSQL's whole data directory (after a CHECKPOINT: heap, WAL).</summary>
    public async Task<(ScanResult Dump, ScanResult DataDir, int Files, long Bytes)> ScanDatabaseAsync(TestDatabase db)
    {
        var dump = Scan(await Evidence.PgDumpAsync(db));
        await db.ExecAsync("CHECKPOINT");
        var (dir, files, bytes) = ScanDirectory(TestEnv.PgDataDir);
        return (dump, dir, files, bytes);
    }
}

/// <summary>Restores a plain pg_dump into a fresh scratch database of the test PostgreSQL.</summary>
internal sealed class ScratchDatabase : IAsyncDisposable
{
    private ScratchDatabase(string name) => Name = name;

    public string Name { get; }
    public string ConnectionString => new NpgsqlConnectionStringBuilder(TestEnv.PgAdmin) { Database = Name }.ConnectionString;

    public static async Task<ScratchDatabase> RestoreAsync(byte[] plainDump)
    {
        var db = new ScratchDatabase("plx_scratch_" + Guid.NewGuid().ToString("N")[..12]);
        await Admin($"CREATE DATABASE {db.Name}");
        var dir = TestEnv.NewWorkDir("restore");
        var file = Path.Combine(dir, "dump.sql");
        try
        {
            await File.WriteAllBytesAsync(file, plainDump);
            var cs = new NpgsqlConnectionStringBuilder(TestEnv.PgAdmin);
            var r = await ProcessRunner.RunAsync(Path.Combine(TestEnv.PgBin, "psql"),
                ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cs.Host!, "-p", cs.Port.ToString(CultureInfo.InvariantCulture),
                 "-U", cs.Username!, "-d", db.Name, "--no-password", "-f", file],
                new Dictionary<string, string> { ["PGPASSWORD"] = cs.Password! });
            if (r.ExitCode != 0) throw new InvalidOperationException($"psql restore failed ({r.ExitCode}): {r.Stderr}");
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
        return db;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try { await Admin($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)"); } catch (NpgsqlException) { }
    }

    private static async Task Admin(string sql)
    {
        await using var conn = new NpgsqlConnection(TestEnv.PgAdmin);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}

internal static class Poll
{
    /// <summary>Polls (real time) until <paramref name="done"/> holds; fails with <paramref name="what"/> otherwise.</summary>
    public static async Task UntilAsync(Func<Task<bool>> done, TimeSpan within, Func<string> what)
    {
        var sw = Stopwatch.StartNew();
        while (!await done())
        {
            Assert.True(sw.Elapsed < within, $"not within {within}: {what()}");
            await Task.Delay(50);
        }
    }
}
