using Npgsql;
using NpgsqlTypes;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

/// <summary>
/// The account tables (email index, sessions, invites, sign-in codes). Single-use rules are enforced by
/// the database in one statement each, so racing callers on different silos cannot both win.
/// </summary>
public sealed class AccountStore(NpgsqlDataSource db)
{
    /// <summary>
    /// Claims an email for a new account in one transaction: its sealed copy and a lookup row in every live epoch.
    /// False, and nothing written, when any of those epochs (or a row from before the epochs) already names it: two
    /// accounts with one email always share an epoch, since every account has a row in each epoch live at its
    /// sign-up and rotation adds the new epoch's before an old one is destroyed.
    /// </summary>
    public async Task<bool> TryClaimEmail(Guid accountId, byte[] sealedEmail, EmailKeys keys)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await Run(conn, tx, "INSERT INTO plandex_email_index (account_id, sealed_email) VALUES ($1, $2)", accountId, sealedEmail);
        var added = await AddLookupRows(conn, tx, keys.Epochs, keys.Hashes, accountId);
        var legacy = false;
        if (keys.Legacy is { } l)
        {
            await using var check = new NpgsqlCommand("SELECT count(*) FROM plandex_email_index_legacy WHERE email_hash = $1", conn, tx);
            Bind(check, l);
            legacy = (long)(await check.ExecuteScalarAsync())! > 0;
        }
        if (added != keys.Epochs.Length || legacy) return false; // rolled back on dispose
        await tx.CommitAsync();
        return true;
    }

    /// <summary>Moves an account's row from before the epochs (if it still has one) to the epoch tables.</summary>
    public async Task<bool> MoveLegacyEmail(Guid accountId, byte[] sealedEmail, EmailKeys keys)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        if (await Run(conn, tx, "DELETE FROM plandex_email_index_legacy WHERE account_id = $1", accountId) == 0) return false;
        await Run(conn, tx, "INSERT INTO plandex_email_index (account_id, sealed_email) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING", accountId, sealedEmail);
        await AddLookupRows(conn, tx, keys.Epochs, keys.Hashes, accountId);
        await tx.CommitAsync();
        return true;
    }

    public async Task<bool> HasLegacyEmail(Guid accountId) =>
        await Scalar<Guid?>("SELECT account_id FROM plandex_email_index_legacy WHERE account_id = $1", accountId) is not null;

    /// <summary>Removes every email row of an account (all three tables).</summary>
    public async Task ReleaseEmail(Guid accountId) =>
        await Execute("""
            WITH l AS (DELETE FROM plandex_email_lookup WHERE account_id = $1),
                 o AS (DELETE FROM plandex_email_index_legacy WHERE account_id = $1)
            DELETE FROM plandex_email_index WHERE account_id = $1
            """, accountId);

    public async Task<Guid?> FindAccountByEmail(EmailKeys keys)
    {
        await using var cmd = db.CreateCommand("""
            SELECT l.account_id FROM plandex_email_lookup l
              JOIN unnest($1::bigint[], $2::bytea[]) AS k(epoch, hash) ON l.epoch = k.epoch AND l.email_hash = k.hash
            UNION ALL
            SELECT account_id FROM plandex_email_index_legacy WHERE email_hash = $3
            LIMIT 1
            """);
        BindKeys(cmd, keys);
        return await cmd.ExecuteScalarAsync() is Guid id ? id : null;
    }

    /// <summary>True for exactly one caller, ever: the server's first owner.</summary>
    public async Task<bool> TryClaimBootstrap(Guid accountId) =>
        await Execute("INSERT INTO plandex_bootstrap (id, account_id) VALUES (1, $1) ON CONFLICT DO NOTHING", accountId) == 1;

    public async Task ReleaseBootstrap(Guid accountId) =>
        await Execute("DELETE FROM plandex_bootstrap WHERE id = 1 AND account_id = $1", accountId);

    public async Task CreateSession(byte[] tokenHash, Guid accountId, DateTimeOffset now, DateTimeOffset expiresAt) =>
        await Execute("INSERT INTO plandex_sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            tokenHash, accountId, now, expiresAt);

    /// <summary>The account and expiry of a live session (not expired, not revoked), or null.</summary>
    public async Task<(Guid Account, DateTimeOffset ExpiresAt)?> ValidateSession(byte[] tokenHash, DateTimeOffset now)
    {
        await using var cmd = db.CreateCommand(
            "SELECT account_id, expires_at FROM plandex_sessions WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2");
        Bind(cmd, tokenHash, now);
        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync() ? (r.GetGuid(0), r.GetFieldValue<DateTimeOffset>(1)) : null;
    }

    /// <summary>
    /// Raised on this silo once an account's sessions were revoked here, so its cached session checks go at once;
    /// other silos hear it from PostgreSQL (the plandex_sessions trigger's notification).
    /// </summary>
    public event Action<Guid>? SessionsEnded;

    public async Task<int> RevokeSession(byte[] tokenHash, Guid accountId, DateTimeOffset now)
    {
        var n = await Execute("UPDATE plandex_sessions SET revoked_at = $3 WHERE token_hash = $1 AND account_id = $2 AND revoked_at IS NULL",
            tokenHash, accountId, now);
        SessionsEnded?.Invoke(accountId);
        return n;
    }

    public async Task<int> RevokeAllSessions(Guid accountId, DateTimeOffset now)
    {
        var n = await Execute("UPDATE plandex_sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL", accountId, now);
        SessionsEnded?.Invoke(accountId);
        return n;
    }

    public async Task CreateInvite(byte[] codeHash, Guid orgId, long epoch, byte[] emailHash, string role, Guid createdBy, DateTimeOffset now, DateTimeOffset expiresAt) =>
        await Execute("INSERT INTO plandex_invites (code_hash, org_id, epoch, email_hash, role, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            codeHash, orgId, epoch, emailHash, role, createdBy, now, expiresAt);

    /// <summary>Marks a matching, unused, unexpired invite used and returns it; null when there is none.</summary>
    public async Task<(Guid OrgId, string Role)?> RedeemInvite(byte[] codeHash, EmailKeys keys, DateTimeOffset now)
    {
        await using var cmd = db.CreateCommand($"""
            UPDATE plandex_invites SET used_at = $5 WHERE code_hash = $4 AND used_at IS NULL AND expires_at > $5 AND {InviteForEmail}
            RETURNING org_id, role
            """);
        BindKeys(cmd, keys);
        Bind(cmd, codeHash, now);
        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync() ? (r.GetGuid(0), r.GetString(1)) : null;
    }

    // An invite names its email by the HMAC of the epoch it was made in ($1, $2: the email's values per live epoch)
    // or, made before the epochs, by the old key's ($3).
    private const string InviteForEmail =
        "((epoch, email_hash) IN (SELECT * FROM unnest($1::bigint[], $2::bytea[])) OR (epoch IS NULL AND email_hash = $3))";

    /// <summary>Puts an invite back when the sign-up it was redeemed for could not complete.</summary>
    public async Task UnredeemInvite(byte[] codeHash) =>
        await Execute("UPDATE plandex_invites SET used_at = NULL WHERE code_hash = $1", codeHash);

    public async Task CreateSignInCode(byte[] codeHash, Guid accountId, DateTimeOffset now, DateTimeOffset expiresAt) =>
        await Execute("INSERT INTO plandex_signin_codes (code_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            codeHash, accountId, now, expiresAt);

    public async Task<bool> RedeemSignInCode(byte[] codeHash, Guid accountId, DateTimeOffset now) =>
        await Execute("UPDATE plandex_signin_codes SET used_at = $3 WHERE code_hash = $1 AND account_id = $2 AND used_at IS NULL AND expires_at > $3",
            codeHash, accountId, now) == 1;

    /// <summary>
    /// Counts one more failure for (scope, key) unless the window's count already reached <paramref name="max"/>;
    /// one statement, so concurrent callers cannot overshoot. False (and nothing changed) when at the limit.
    /// </summary>
    public async Task<bool> TryReserveFailure(string scope, byte[] key, DateTimeOffset now, DateTimeOffset windowStart, int max) =>
        await Execute("""
            INSERT INTO plandex_auth_failures (scope, key, window_start, failures) VALUES ($1, $2, $3, 1)
            ON CONFLICT (scope, key) DO UPDATE SET
                failures = CASE WHEN plandex_auth_failures.window_start > $4 THEN plandex_auth_failures.failures + 1 ELSE 1 END,
                window_start = CASE WHEN plandex_auth_failures.window_start > $4 THEN plandex_auth_failures.window_start ELSE $3 END
            WHERE plandex_auth_failures.window_start <= $4 OR plandex_auth_failures.failures < $5
            """, scope, key, now, windowStart, max) == 1;

    /// <summary>Gives a reservation back; a row that only held this reservation disappears again.</summary>
    public async Task ReleaseFailure(string scope, byte[] key) =>
        await Execute("""
            WITH gone AS (DELETE FROM plandex_auth_failures WHERE scope = $1 AND key = $2 AND failures <= 1 RETURNING 1)
            UPDATE plandex_auth_failures SET failures = failures - 1 WHERE scope = $1 AND key = $2 AND failures > 1
            """, scope, key);

    /// <summary>An account's rows (in the caller's deletion transaction): sessions, codes, invites, email rows, failure counters.</summary>
    public static async Task EraseAccountRows(NpgsqlConnection conn, NpgsqlTransaction tx, Guid accountId, EmailKeys keys)
    {
        foreach (var sql in new[]
                 {
                     "DELETE FROM plandex_sessions WHERE account_id = $1",
                     "DELETE FROM plandex_signin_codes WHERE account_id = $1",
                     "DELETE FROM plandex_invites WHERE created_by = $1",
                     "DELETE FROM plandex_email_lookup WHERE account_id = $1",
                     "DELETE FROM plandex_email_index WHERE account_id = $1",
                     "DELETE FROM plandex_email_index_legacy WHERE account_id = $1",
                 })
            await Run(conn, tx, sql, accountId);
        await using (var invites = new NpgsqlCommand($"DELETE FROM plandex_invites WHERE {InviteForEmail}", conn, tx))
        {
            BindKeys(invites, keys);
            await invites.ExecuteNonQueryAsync();
        }
        await Run(conn, tx, "DELETE FROM plandex_auth_failures WHERE key = ANY($1)", (object)keys.All);
    }

    /// <summary>An org's own rows (in the caller's deletion transaction): its invites.</summary>
    public static async Task EraseOrgRows(NpgsqlConnection conn, NpgsqlTransaction tx, Guid orgId)
    {
        await using var cmd = new NpgsqlCommand("DELETE FROM plandex_invites WHERE org_id = $1", conn, tx);
        Bind(cmd, orgId);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<int> AddLookupRows(NpgsqlConnection conn, NpgsqlTransaction tx, long[] epochs, byte[][] hashes, Guid accountId) =>
        await Run(conn, tx, """
            INSERT INTO plandex_email_lookup (epoch, email_hash, account_id)
            SELECT k.epoch, k.hash, $3 FROM unnest($1::bigint[], $2::bytea[]) AS k(epoch, hash)
            ON CONFLICT DO NOTHING
            """, epochs, hashes, accountId);

    private static async Task<int> Run(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        Bind(cmd, args);
        return await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>$1, $2: the email's epochs and values; $3: the old key's value or NULL.</summary>
    private static void BindKeys(NpgsqlCommand cmd, EmailKeys keys)
    {
        Bind(cmd, keys.Epochs, keys.Hashes);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)keys.Legacy ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bytea });
    }

    private async Task<int> Execute(string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        Bind(cmd, args);
        return await cmd.ExecuteNonQueryAsync();
    }

    private async Task<T?> Scalar<T>(string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        Bind(cmd, args);
        var v = await cmd.ExecuteScalarAsync();
        return v is null or DBNull ? default : (T)v;
    }

    /// <summary>Positional parameters; times as timestamptz in UTC (shared with <see cref="EmailEpochs"/>).</summary>
    internal static void Bind(NpgsqlCommand cmd, params object[] args)
    {
        foreach (var a in args)
            cmd.Parameters.Add(a is DateTimeOffset d
                ? new NpgsqlParameter { Value = d.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz }
                : new NpgsqlParameter { Value = a });
    }
}
