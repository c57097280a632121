using Npgsql;
using NpgsqlTypes;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

/// <summary>
/// The email tables' part of an epoch rotation (<see cref="Retention.EpochRotation"/>): every account gets its
/// lookup row in the new epoch (from its email, sealed under its own key) before an old epoch may be destroyed, and
/// rows and invites of a destroyed epoch are dropped (nobody can check them any more). Idempotent, like the rotation.
/// </summary>
public sealed class EmailEpochs(NpgsqlDataSource db, Envelope envelope, EmailLookup lookup)
{
    /// <summary>What the account's email is sealed as in <c>plandex_email_index</c>.</summary>
    public const string SealPurpose = "email-index";

    /// <summary>
    /// Adds the lookup row in <paramref name="epoch"/> of every account that lacks one. An account whose sealed email
    /// cannot be opened (row or key damaged) is skipped and reported: it keeps its older epochs alive until restored.
    /// </summary>
    public async Task<FillResult> FillAsync(long epoch, int batchSize = 500, CancellationToken ct = default)
    {
        var total = 0;
        var skipped = new List<Guid>(); // deleted meanwhile (key gone), colliding or unreadable: not retried in this run
        var unreadable = new List<Guid>();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var rows = new List<(Guid Id, byte[] Sealed)>(batchSize);
            await using (var read = db.CreateCommand("""
                SELECT i.account_id, i.sealed_email FROM plandex_email_index i
                 WHERE NOT EXISTS (SELECT 1 FROM plandex_email_lookup l WHERE l.account_id = i.account_id AND l.epoch = $1)
                   AND EXISTS (SELECT 1 FROM plandex_data_keys k WHERE k.subject_id = i.account_id)
                   AND i.account_id <> ALL($2)
                 LIMIT $3
                """))
            {
                read.Parameters.Add(new NpgsqlParameter { Value = epoch });
                read.Parameters.Add(new NpgsqlParameter { Value = skipped.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
                read.Parameters.Add(new NpgsqlParameter { Value = batchSize });
                await using var r = await read.ExecuteReaderAsync(ct);
                while (await r.ReadAsync(ct)) rows.Add((r.GetGuid(0), r.GetFieldValue<byte[]>(1)));
            }
            if (rows.Count == 0) return new FillResult(total, unreadable);

            var (ids, hashes) = (new List<Guid>(rows.Count), new List<byte[]>(rows.Count));
            foreach (var (id, sealedEmail) in rows)
            {
                try
                {
                    var email = await envelope.OpenText(DataSubject.Account(id), SealPurpose, sealedEmail);
                    hashes.Add(lookup.Hash(epoch, email));
                    ids.Add(id);
                }
                catch (KeyDestroyedException) { skipped.Add(id); }
                catch (System.Security.Cryptography.CryptographicException)
                {
                    skipped.Add(id);
                    unreadable.Add(id);
                }
            }
            await using var insert = db.CreateCommand("""
                INSERT INTO plandex_email_lookup (epoch, email_hash, account_id)
                SELECT $1, k.hash, k.id FROM unnest($2::bytea[], $3::uuid[]) AS k(hash, id)
                ON CONFLICT DO NOTHING
                RETURNING account_id
                """);
            insert.Parameters.Add(new NpgsqlParameter { Value = epoch });
            insert.Parameters.Add(new NpgsqlParameter { Value = hashes.ToArray() });
            insert.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
            var added = new HashSet<Guid>();
            await using (var r = await insert.ExecuteReaderAsync(ct))
                while (await r.ReadAsync(ct)) added.Add(r.GetGuid(0));
            total += added.Count;
            skipped.AddRange(ids.Where(id => !added.Contains(id)));
        }
    }

    /// <summary>
    /// Accounts that have no lookup row in an epoch after <paramref name="epoch"/> (how many, and one of them): they
    /// would become unfindable if it were destroyed (a fill missed them), so the rotation keeps it. An account whose
    /// data key is gone does not count: its email can never be opened again, so no fill can ever give it a row.
    /// </summary>
    public async Task<(long Count, Guid? First)> AccountsOnlyAtOrBeforeAsync(long epoch)
    {
        await using var cmd = db.CreateCommand("""
            SELECT count(*), min(i.account_id::text)::uuid FROM plandex_email_index i
             WHERE NOT EXISTS (SELECT 1 FROM plandex_email_lookup l WHERE l.account_id = i.account_id AND l.epoch > $1)
               AND EXISTS (SELECT 1 FROM plandex_data_keys k WHERE k.subject_id = i.account_id)
            """);
        AccountStore.Bind(cmd, epoch);
        await using var r = await cmd.ExecuteReaderAsync();
        await r.ReadAsync();
        return (r.GetInt64(0), r.IsDBNull(1) ? null : r.GetGuid(1));
    }

    /// <summary>Drops lookup rows and invites of epochs older than the oldest live one: values nobody can check any more.</summary>
    public async Task DropBeforeAsync(long oldestLive) =>
        await Execute("""
            WITH l AS (DELETE FROM plandex_email_lookup WHERE epoch < $1)
            DELETE FROM plandex_invites WHERE epoch < $1
            """, oldestLive);

    /// <summary>Failure counters older than <paramref name="before"/> (the limiter looks back 15 minutes).</summary>
    public async Task DropStaleFailuresAsync(DateTimeOffset before) =>
        await Execute("DELETE FROM plandex_auth_failures WHERE window_start < $1", before);

    /// <summary>Accounts still found through the pre-epoch key (activating one moves it: <c>AccountGrain</c>).</summary>
    public async Task<IReadOnlyList<Guid>> LegacyAccountsAsync(int limit)
    {
        if (!lookup.HasLegacyKey) return [];
        await using var cmd = db.CreateCommand("SELECT account_id FROM plandex_email_index_legacy ORDER BY account_id LIMIT $1");
        AccountStore.Bind(cmd, limit);
        var ids = new List<Guid>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) ids.Add(r.GetGuid(0));
        return ids;
    }

    /// <summary>
    /// Destroys the pre-epoch key once nothing live needs it: no account row from before the epochs and no unused,
    /// unexpired invite made with it (the rest of its invites are dropped first). True when it is gone.
    /// </summary>
    public async Task<bool> RetireLegacyKeyAsync(DateTimeOffset now)
    {
        if (!lookup.HasLegacyKey) return true;
        await using var cmd = db.CreateCommand("""
            SELECT (SELECT count(*) FROM plandex_email_index_legacy)
                 + (SELECT count(*) FROM plandex_invites WHERE epoch IS NULL AND used_at IS NULL AND expires_at > $1)
            """);
        AccountStore.Bind(cmd, now);
        if ((long)(await cmd.ExecuteScalarAsync())! > 0) return false;
        await Execute("DELETE FROM plandex_invites WHERE epoch IS NULL");
        lookup.DestroyLegacyKey();
        return true;
    }

    private async Task Execute(string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        AccountStore.Bind(cmd, args);
        await cmd.ExecuteNonQueryAsync();
    }
}

/// <summary>What a fill did: lookup rows added, and the accounts whose sealed email could not be opened.</summary>
public readonly record struct FillResult(int Added, IReadOnlyList<Guid> Unreadable);
