using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using Npgsql;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Encryption;

/// <summary>
/// The one place data keys are made, wrapped, unwrapped, re-wrapped and dropped. A data key (AES-256, one per
/// plan, account or org) is stored only wrapped (AES-GCM) by an epoch key from <see cref="IEpochKeyStore"/>; the
/// wrap's associated data binds it to its subject and epoch. Unwrapped keys sit only in pinned arrays.
/// </summary>
public sealed class KeyRing(NpgsqlDataSource db, IEpochKeyStore epochs, TimeProvider time,
    Microsoft.Extensions.Options.IOptions<Retention.RetentionOptions> retention) : IDisposable
{
    /// <summary>Hands a data key to code that must not keep it (it is wiped when evicted).</summary>
    public delegate T KeyUse<out T>(ReadOnlySpan<byte> key);

    private const int KeySize = 32, NonceSize = 12, TagSize = 16, WrappedSize = NonceSize + TagSize + KeySize;
    private static readonly TimeSpan DataKeyTtl = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan EpochKeyTtl = TimeSpan.FromSeconds(30);

    // Volatile caches: not persisted; silo memory only. Entries are pinned and wiped on eviction, on Forget and
    // on Dispose. Short lives bound how long a key destroyed elsewhere (another silo) lingers in this one's RAM.
    private readonly ConcurrentDictionary<Guid, CachedKey> _dataKeys = new();
    private readonly ConcurrentDictionary<long, CachedKey> _epochKeys = new();

    public IEpochKeyStore Epochs => epochs;

    /// <summary>The epoch id (start, Unix seconds) that <paramref name="at"/> falls in.</summary>
    public long EpochOf(DateTimeOffset at) => retention.Value.EpochStart(at).ToUnixTimeSeconds();

    /// <summary>The epoch new keys are wrapped under: the newest in the store (made now if there is none).</summary>
    public long CurrentEpoch()
    {
        var list = epochs.List();
        if (list.Count > 0) return list[^1];
        var epoch = EpochOf(time.GetUtcNow());
        epochs.EnsureCreated(epoch);
        return epoch;
    }

    /// <summary>Runs <paramref name="use"/> with the subject's data key; creates the key if asked and missing.</summary>
    /// <exception cref="KeyDestroyedException">No key (deleted subject) or its epoch is gone.</exception>
    public async ValueTask<T> Use<T>(DataSubject subject, bool create, KeyUse<T> use)
    {
        while (true)
        {
            var entry = await DataKeyAsync(subject, create);
            lock (entry)
            {
                if (!entry.Wiped) return use(entry.Key);
            }
            // Evicted between lookup and use (rare): drop it and unwrap again rather than use a wiped key.
            _dataKeys.TryRemove(KeyValuePair.Create(subject.Id, entry));
        }
    }

    /// <summary>
    /// A keyed hash (HMAC-SHA256) of <paramref name="value"/> under a key derived from epoch <paramref name="epoch"/>'s
    /// key for <paramref name="purpose"/>: a lookup value that nobody can test a guess against once the epoch is
    /// destroyed (emails: <see cref="Security.EmailLookup"/>). The derived key never leaves this method.
    /// </summary>
    /// <exception cref="KeyDestroyedException">The epoch's key no longer exists.</exception>
    public byte[] EpochHash(long epoch, string purpose, ReadOnlySpan<byte> value)
    {
        Span<byte> derived = stackalloc byte[KeySize];
        try
        {
            while (true)
            {
                var kek = EpochKey(epoch, "a lookup (" + purpose + ")");
                lock (kek)
                {
                    if (kek.Wiped) continue;
                    HKDF.DeriveKey(HashAlgorithmName.SHA256, kek.Key, derived, salt: [], System.Text.Encoding.UTF8.GetBytes("epoch-lookup:" + purpose));
                    break;
                }
            }
            return HMACSHA256.HashData(derived, value);
        }
        finally { CryptographicOperations.ZeroMemory(derived); }
    }

    /// <summary>Removes the subject's data key in the caller's transaction; returns the epoch that wrapped it.</summary>
    public async Task<long?> DropAsync(Guid subjectId, NpgsqlConnection conn, NpgsqlTransaction tx)
    {
        await using var cmd = new NpgsqlCommand("DELETE FROM plandex_data_keys WHERE subject_id = $1 RETURNING epoch", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = subjectId });
        var epoch = await cmd.ExecuteScalarAsync() as long?;
        Forget(subjectId);
        return epoch;
    }

    /// <summary>Removes a subject's data key on its own (a subject that never came to be: a failed sign-up).</summary>
    public async Task DropAsync(Guid subjectId)
    {
        await using var cmd = db.CreateCommand("DELETE FROM plandex_data_keys WHERE subject_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = subjectId });
        await cmd.ExecuteNonQueryAsync();
        Forget(subjectId);
    }

    /// <summary>Wipes this silo's cached copy of a subject's key (after deletion).</summary>
    public void Forget(Guid subjectId)
    {
        if (_dataKeys.TryRemove(subjectId, out var e)) e.Wipe();
    }

    /// <summary>Wipes this silo's cached copy of an epoch key (after destruction).</summary>
    public void ForgetEpoch(long epoch)
    {
        if (_epochKeys.TryRemove(epoch, out var e)) e.Wipe();
    }

    /// <summary>
    /// Re-wraps every data key wrapped under an epoch older than <paramref name="epoch"/>, in batches; loops until
    /// none is left (keys created concurrently under the old epoch are picked up too). A key that cannot be unwrapped
    /// (its row damaged, or its epoch key missing) is left where it is and counted, so one bad row does not stop
    /// the rest; it keeps its epoch alive (the rotation's safety rule) until an operator restores it.
    /// </summary>
    public async Task<RewrapResult> RewrapAllAsync(long epoch, int batchSize = 2000, CancellationToken ct = default)
    {
        var total = 0;
        var unreadable = new List<Guid>(); // not retried in this run
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var rows = new List<(Guid Id, long Epoch, byte[] Wrapped)>(batchSize);
            await using (var read = db.CreateCommand(
                "SELECT subject_id, epoch, wrapped FROM plandex_data_keys WHERE epoch < $1 AND subject_id <> ALL($2) LIMIT $3"))
            {
                read.Parameters.Add(new NpgsqlParameter { Value = epoch });
                read.Parameters.Add(new NpgsqlParameter { Value = unreadable.ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Uuid });
                read.Parameters.Add(new NpgsqlParameter { Value = batchSize });
                await using var r = await read.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) rows.Add((r.GetGuid(0), r.GetInt64(1), r.GetFieldValue<byte[]>(2)));
            }
            if (rows.Count == 0) return new RewrapResult(total, unreadable);

            var ids = new List<Guid>(rows.Count);
            var olds = new List<long>(rows.Count);
            var wrapped = new List<byte[]>(rows.Count);
            var key = GC.AllocateArray<byte>(KeySize, pinned: true);
            // One cipher per epoch per batch: building an AES-GCM context per key dominated the cost.
            var ciphers = new Dictionary<long, AesGcm>();
            try
            {
                var target = Cipher(epoch);
                foreach (var (id, old, blob) in rows)
                {
                    try
                    {
                        if (blob.Length != WrappedSize) throw new CryptographicException($"the wrapped data key of {id} is malformed");
                        Cipher(old).Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), key, Aad(id, old));
                    }
                    catch (Exception e) when (e is CryptographicException or KeyDestroyedException)
                    {
                        unreadable.Add(id);
                        continue;
                    }
                    var output = new byte[WrappedSize];
                    RandomNumberGenerator.Fill(output.AsSpan(0, NonceSize));
                    target.Encrypt(output.AsSpan(0, NonceSize), key, output.AsSpan(NonceSize + TagSize), output.AsSpan(NonceSize, TagSize), Aad(id, epoch));
                    ids.Add(id);
                    olds.Add(old);
                    wrapped.Add(output);
                }
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
                foreach (var c in ciphers.Values) c.Dispose();
            }

            AesGcm Cipher(long e)
            {
                if (ciphers.TryGetValue(e, out var c)) return c;
                var kek = epochs.Read(e) ?? throw new KeyDestroyedException(
                    $"key destroyed: epoch {DateTimeOffset.FromUnixTimeSeconds(e):u} no longer exists, yet live data keys are wrapped under it");
                try { c = new AesGcm(kek, TagSize); }
                finally { CryptographicOperations.ZeroMemory(kek); }
                ciphers[e] = c;
                return c;
            }

            // Only rows still under the epoch we read are replaced: a key dropped meanwhile stays dropped.
            await using var update = db.CreateCommand("""
                UPDATE plandex_data_keys d SET epoch = $1, wrapped = u.wrapped
                  FROM unnest($2::uuid[], $3::bigint[], $4::bytea[]) AS u(id, old_epoch, wrapped)
                 WHERE d.subject_id = u.id AND d.epoch = u.old_epoch
                """);
            update.Parameters.Add(new NpgsqlParameter { Value = epoch });
            update.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
            update.Parameters.Add(new NpgsqlParameter { Value = olds.ToArray() });
            update.Parameters.Add(new NpgsqlParameter { Value = wrapped.ToArray() });
            total += await update.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>The live data keys still wrapped under <paramref name="epoch"/> or older: how many, and one of them.</summary>
    public async Task<(long Count, Guid? First)> KeysAtOrBeforeAsync(long epoch)
    {
        await using var cmd = db.CreateCommand(
            "SELECT count(*), min(subject_id::text)::uuid FROM plandex_data_keys WHERE epoch <= $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = epoch });
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.IsDBNull(1) ? null : r.GetGuid(1));
    }

    private async ValueTask<CachedKey> DataKeyAsync(DataSubject subject, bool create)
    {
        if (_dataKeys.TryGetValue(subject.Id, out var hit) && !hit.Expired) return hit;
        var loaded = await LoadAsync(subject) ?? (create ? await CreateAsync(subject) : null)
            ?? throw new KeyDestroyedException($"key destroyed: the data key of {subject} no longer exists (deleted, or never created)");
        var entry = new CachedKey(loaded, DataKeyTtl);
        _dataKeys.AddOrUpdate(subject.Id, entry, (_, old) => { old.Wipe(); return entry; });
        SweepIfDue();
        return entry;
    }

    private async Task<byte[]?> LoadAsync(DataSubject subject)
    {
        await using var cmd = db.CreateCommand("SELECT epoch, wrapped FROM plandex_data_keys WHERE subject_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = subject.Id });
        await using var r = await cmd.ExecuteReaderAsync();
        if (!await r.ReadAsync()) return null;
        var key = GC.AllocateArray<byte>(KeySize, pinned: true);
        try { Unwrap(subject.Id, r.GetInt64(0), r.GetFieldValue<byte[]>(1), key, subject.ToString()); }
        catch { CryptographicOperations.ZeroMemory(key); throw; }
        return key;
    }

    private async Task<byte[]?> CreateAsync(DataSubject subject)
    {
        var key = GC.AllocateArray<byte>(KeySize, pinned: true);
        RandomNumberGenerator.Fill(key);
        var epoch = CurrentEpoch();
        await using var cmd = db.CreateCommand(
            "INSERT INTO plandex_data_keys (subject_id, kind, epoch, wrapped) VALUES ($1, $2, $3, $4) ON CONFLICT (subject_id) DO NOTHING");
        cmd.Parameters.Add(new NpgsqlParameter { Value = subject.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = subject.Kind });
        cmd.Parameters.Add(new NpgsqlParameter { Value = epoch });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Wrap(subject.Id, epoch, key) });
        if (await cmd.ExecuteNonQueryAsync() == 1) return key;
        CryptographicOperations.ZeroMemory(key); // another silo created it first: use theirs
        return await LoadAsync(subject);
    }

    private byte[] Wrap(Guid subject, long epoch, ReadOnlySpan<byte> key)
    {
        var output = new byte[WrappedSize];
        RandomNumberGenerator.Fill(output.AsSpan(0, NonceSize));
        var aad = Aad(subject, epoch);
        while (true)
        {
            var kek = EpochKey(epoch, subject.ToString());
            lock (kek)
            {
                if (kek.Wiped) continue; // destroyed or evicted meanwhile: look it up again
                using var gcm = new AesGcm(kek.Key, TagSize);
                gcm.Encrypt(output.AsSpan(0, NonceSize), key, output.AsSpan(NonceSize + TagSize), output.AsSpan(NonceSize, TagSize), aad);
                return output;
            }
        }
    }

    private void Unwrap(Guid subject, long epoch, byte[] wrapped, byte[] into, string? what = null)
    {
        if (wrapped.Length != WrappedSize) throw new CryptographicException($"the wrapped data key of {what ?? subject.ToString()} is malformed");
        var aad = Aad(subject, epoch);
        while (true)
        {
            var kek = EpochKey(epoch, what ?? subject.ToString());
            lock (kek)
            {
                if (kek.Wiped) continue;
                using var gcm = new AesGcm(kek.Key, TagSize);
                gcm.Decrypt(wrapped.AsSpan(0, NonceSize), wrapped.AsSpan(NonceSize + TagSize), wrapped.AsSpan(NonceSize, TagSize), into, aad);
                return;
            }
        }
    }

    private CachedKey EpochKey(long epoch, string what)
    {
        if (_epochKeys.TryGetValue(epoch, out var hit) && !hit.Expired && !hit.Wiped) return hit;
        var key = epochs.Read(epoch) ?? throw new KeyDestroyedException(
            $"key destroyed: epoch {DateTimeOffset.FromUnixTimeSeconds(epoch):u}, which wraps the data key of {what}, no longer exists (the retention window has passed)");
        var entry = new CachedKey(key, EpochKeyTtl);
        _epochKeys.AddOrUpdate(epoch, entry, (_, old) => { old.Wipe(); return entry; });
        return entry;
    }

    private static byte[] Aad(Guid subject, long epoch)
    {
        var aad = new byte[24];
        subject.TryWriteBytes(aad);
        BinaryPrimitives.WriteInt64LittleEndian(aad.AsSpan(16), epoch);
        return aad;
    }

    private long _nextSweep;

    private void SweepIfDue()
    {
        var now = Environment.TickCount64;
        if (now < Interlocked.Read(ref _nextSweep)) return;
        Interlocked.Exchange(ref _nextSweep, now + 30_000);
        foreach (var (id, e) in _dataKeys)
            if (e.Expired && _dataKeys.TryRemove(KeyValuePair.Create(id, e))) e.Wipe();
        foreach (var (id, e) in _epochKeys)
            if (e.Expired && _epochKeys.TryRemove(KeyValuePair.Create(id, e))) e.Wipe();
    }

    public void Dispose()
    {
        foreach (var e in _dataKeys.Values) e.Wipe();
        foreach (var e in _epochKeys.Values) e.Wipe();
        _dataKeys.Clear();
        _epochKeys.Clear();
    }

    /// <summary>A pinned key with a deadline (real time: this is memory hygiene, not business time).</summary>
    private sealed class CachedKey(byte[] key, TimeSpan ttl)
    {
        private readonly long _deadline = Environment.TickCount64 + (long)ttl.TotalMilliseconds;
        public byte[] Key => key;
        public bool Wiped { get; private set; }
        public bool Expired => Environment.TickCount64 > _deadline;

        public void Wipe()
        {
            lock (this)
            {
                CryptographicOperations.ZeroMemory(key);
                Wiped = true;
            }
        }
    }
}

/// <summary>What a re-wrap did: keys moved to the new epoch, and the subjects whose key could not be unwrapped.</summary>
public readonly record struct RewrapResult(int Rewrapped, IReadOnlyList<Guid> Unreadable);
