using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;

namespace Plandex.Tests.Deletion;

/// <summary>
/// Emails are found by HMACs under keys derived from the epoch keys. A backup holds a deleted account's lookup rows
/// (and invites to an email, and failure counters), and anyone holding that backup and the server's keys can test a
/// guessed address against them: until the rows' epochs are destroyed, i.e. within the retention window, and never
/// after. With the first design (one server key that never changed) the same test found the address forever.
/// </summary>
public sealed class EmailEpochTests
{
    // Noon, so every daily step crosses one epoch boundary (as in BackupExpiryTests).
    private static readonly DateTimeOffset Start = new(2030, 5, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_deleted_accounts_email_can_be_tested_against_a_backup_until_day_6_and_with_no_key_from_day_7()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var anonymous = await silo.ConnectAsync();
        var xEmail = $"x{Guid.NewGuid():N}@example.com";
        var invitee = $"i{Guid.NewGuid():N}@example.com";
        var olgaEmail = $"o{Guid.NewGuid():N}@example.com";
        var x = await anonymous.SignUpAsync(new SignUpRequest(xEmail, "Xavier"));
        var olga = await anonymous.SignUpAsync(new SignUpRequest(olgaEmail, "Olga"));
        await using var xc = await silo.ConnectAsync(x.Token);
        await using var oc = await silo.ConnectAsync(olga.Token);
        var invite = await oc.Org(olga.OrgId).Invite(invitee, OrgRole.Member); // never used: lives on in Olga's org
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(DataKeys.EpochFiles(db)[^1]) + TimeSpan.FromDays(7), invite.ExpiresAt);
        await Assert.ThrowsAsync<AccessDeniedException>(() => anonymous.SignInWithCodeAsync(xEmail, "WRONG-CODE-1234")); // a failure counter for X

        // Positive control: with the live keys, a backup taken now answers "did this address have an account?".
        var dump = await Evidence.PgDumpAsync(db);
        Assert.True(Testable(db, dump, xEmail) > 0, "the backup's lookup rows must match the email under a live key");
        Assert.True(Testable(db, dump, invitee) > 0, "the backup's invite must match the invited email under a live key");
        Assert.Equal(0, Testable(db, dump, $"nobody{Guid.NewGuid():N}@example.com"));

        await xc.Account(x.AccountId).DeleteAccount();
        Assert.Equal(0, Testable(db, await Evidence.PgDumpAsync(db), xEmail)); // the live database at once

        var report = new List<string>();
        for (var day = 1; day <= 7; day++)
        {
            await silo.AdvanceAsync(TimeSpan.FromDays(1));
            await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= day, TimeSpan.FromSeconds(30),
                () => $"day {day}: the retention reminder did not tick; silo log:\n{string.Join('\n', silo.Lines.TakeLast(30))}");
            var (deleted, invited) = (Testable(db, dump, xEmail), Testable(db, dump, invitee));
            report.Add($"day {day}: {deleted} / {invited} matches, {DataKeys.EpochFiles(db).Count} epoch keys");
            if (day < 7)
            {
                Assert.True(deleted > 0, $"day {day}: the sign-up epoch still lives, so the backup's row must still match");
                Assert.True(invited > 0, $"day {day}: the invite's epoch still lives");
            }
            else
            {
                Assert.Equal(0, deleted);
                Assert.Equal(0, invited);
            }
        }
        Console.WriteLine($"[measure] deleted account's email tested against a backup from {Start:u} (deleted / invited email): {string.Join("; ", report)}");

        // Olga signed up on day 0 too: her rows moved on with the epochs, so she is still found by her email.
        var code = await oc.Account(olga.AccountId).CreateSignInCode();
        Assert.Equal(olga.AccountId, (await anonymous.SignInWithCodeAsync(olgaEmail, code.Code)).AccountId);
        Assert.Equal(DataKeys.EpochFiles(db), await LookupEpochsAsync(db, olga.AccountId));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_invites")); // dropped with its epoch
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_auth_failures WHERE scope LIKE '%:target'"));
    }

    [Fact]
    public async Task Emails_stay_unique_across_epochs_and_invites_work_in_each()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var anonymous = await silo.ConnectAsync();
        var email = $"a{Guid.NewGuid():N}@example.com";
        var a = await anonymous.SignUpAsync(new SignUpRequest(email, "Ada"));
        await using var ac = await silo.ConnectAsync(a.Token);
        for (var day = 1; day <= 8; day++)
        {
            await silo.AdvanceAsync(TimeSpan.FromDays(1));
            await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= day, TimeSpan.FromSeconds(30),
                () => $"day {day}: the retention reminder did not tick");
        }
        // The sign-up's epoch is gone, yet the same email (in another spelling) is still taken, and still Ada's.
        Assert.DoesNotContain(DataKeys.EpochFiles(db), e => e <= Start.ToUnixTimeSeconds());
        var again = await Assert.ThrowsAsync<InvalidRequestException>(() => anonymous.SignUpAsync(new SignUpRequest(" " + email.ToUpperInvariant(), "Ada 2")));
        Assert.Contains("already exists", again.Message);
        Assert.Equal(DataKeys.EpochFiles(db), await LookupEpochsAsync(db, a.AccountId));

        // An invite made now names the email under today's epoch and is redeemed with it.
        var joiner = $"j{Guid.NewGuid():N}@example.com";
        var invite = await ac.Org(a.OrgId).Invite(joiner, OrgRole.Member);
        await Assert.ThrowsAsync<AccessDeniedException>(() => anonymous.SignUpAsync(new SignUpRequest($"k{Guid.NewGuid():N}@example.com", "Wrong", invite.Code)));
        var j = await anonymous.SignUpAsync(new SignUpRequest(joiner, "Joiner", invite.Code));
        Assert.Equal(a.OrgId, j.OrgId);
        Assert.Equal(2L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index"));
    }

    [Fact]
    public async Task Rows_from_before_the_epochs_are_moved_and_their_key_destroyed()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        var (aEmail, bEmail) = ($"a{Guid.NewGuid():N}@example.com", $"b{Guid.NewGuid():N}@example.com");
        SignInResult a, b;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            a = await anonymous.SignUpAsync(new SignUpRequest(aEmail, "Ada"));
            b = await anonymous.SignUpAsync(new SignUpRequest(bEmail, "Bo"));
        }
        // Rewrite both as the first design stored them: one HMAC under email-lookup.key, and a used invite to B.
        var legacyKey = RandomNumberGenerator.GetBytes(32);
        var legacyPath = Path.Combine(db.KeyDirectory, "email-lookup.key");
        await File.WriteAllBytesAsync(legacyPath, legacyKey);
        foreach (var (id, email) in new[] { (a.AccountId, aEmail), (b.AccountId, bEmail) })
            await StoreAsPreEpochAsync(db, legacyKey, id, email);
        await ExecAsync(db, $"INSERT INTO plandex_invites (code_hash, org_id, email_hash, role, created_by, created_at, expires_at, used_at) " +
            $"VALUES ('\\x01', '{a.OrgId}', '\\x{Hex(HMACSHA256.HashData(legacyKey, Encoding.UTF8.GetBytes(bEmail)))}', 'member', '{a.AccountId}', now(), now() + interval '7 days', now())");

        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var anon = await silo.ConnectAsync();
        // Still found through the old key: taken for a new sign-up, and A signs in (which activates and moves A).
        await Assert.ThrowsAsync<InvalidRequestException>(() => anon.SignUpAsync(new SignUpRequest(bEmail, "Bo 2")));
        await using (var ac = await silo.ConnectAsync(a.Token))
        {
            var code = await ac.Account(a.AccountId).CreateSignInCode();
            Assert.Equal(a.AccountId, (await anon.SignInWithCodeAsync(aEmail, code.Code)).AccountId);
        }
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index_legacy"));
        Assert.True(File.Exists(legacyPath));

        // The next epoch tick moves B (nobody used it) and then destroys the old key with the last row that needed it.
        await silo.AdvanceAsync(TimeSpan.FromDays(1));
        await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= 1, TimeSpan.FromSeconds(30), () => "the retention reminder did not tick");
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index_legacy"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_invites WHERE epoch IS NULL"));
        Assert.False(File.Exists(legacyPath), "the pre-epoch key must be destroyed once no row needs it");
        foreach (var (id, token, email) in new[] { (a.AccountId, a.Token, aEmail), (b.AccountId, b.Token, bEmail) })
        {
            Assert.Equal(DataKeys.EpochFiles(db), await LookupEpochsAsync(db, id));
            await using var c = await silo.ConnectAsync(token);
            var code = await c.Account(id).CreateSignInCode();
            Assert.Equal(id, (await anon.SignInWithCodeAsync(email, code.Code)).AccountId);
        }
        await Assert.ThrowsAsync<InvalidRequestException>(() => anon.SignUpAsync(new SignUpRequest(bEmail, "Bo 3")));
    }

    [Fact]
    public async Task A_pre_epoch_account_that_cannot_activate_stays_behind_without_stopping_the_tick()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        var email = $"c{Guid.NewGuid():N}@example.com";
        SignInResult c;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            c = await anonymous.SignUpAsync(new SignUpRequest(email, "Cy"));
        }
        // C as the first design stored it, and its wrapped data key damaged: its grain can no longer activate.
        var legacyKey = RandomNumberGenerator.GetBytes(32);
        var legacyPath = Path.Combine(db.KeyDirectory, "email-lookup.key");
        await File.WriteAllBytesAsync(legacyPath, legacyKey);
        await StoreAsPreEpochAsync(db, legacyKey, c.AccountId, email);
        await DataKeys.DamageAsync(db, c.AccountId);

        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await silo.AdvanceAsync(TimeSpan.FromDays(1));
        // Before the change, the failed activation failed the whole tick: nothing was rotated, every day.
        await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= 1, TimeSpan.FromSeconds(30),
            () => "the tick was not recorded:\n" + string.Join('\n', silo.Lines.TakeLast(20)));
        Assert.Contains(silo.Lines, l => l.StartsWith("Warning: ") && l.Contains("1 accounts still found through the pre-epoch email key failed to activate"));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index_legacy"));
        Assert.True(File.Exists(legacyPath), "the pre-epoch key must stay while an account still needs it");
        Assert.Equal(DataKeys.EpochFiles(db)[^1], (await DataKeys.ReadWrappedAsync(db, c.OrgId))!.Value.Epoch); // the rotation ran
    }

    /// <summary>
    /// How many lookup values in <paramref name="data"/> match <paramref name="email"/> under any key that exists now
    /// (every epoch key file, and the pre-epoch key if it is there): what someone holding a copy of the data and the
    /// server's keys could confirm. An independent re-implementation of the derivation: HMAC-SHA256 under
    /// HKDF-SHA256(epoch key, no salt, "epoch-lookup:email").
    /// </summary>
    private static int Testable(TestDatabase db, byte[] data, string email)
    {
        var value = Encoding.UTF8.GetBytes(email);
        var hashes = new List<byte[]>();
        foreach (var epoch in DataKeys.EpochFiles(db))
        {
            var kek = File.ReadAllBytes(Path.Combine(DataKeys.EpochDirectory(db), $"epoch-{epoch.ToString(CultureInfo.InvariantCulture)}.kek"));
            hashes.Add(HMACSHA256.HashData(HKDF.DeriveKey(HashAlgorithmName.SHA256, kek, 32, [], Encoding.UTF8.GetBytes("epoch-lookup:email")), value));
        }
        var legacy = Path.Combine(db.KeyDirectory, "email-lookup.key");
        if (File.Exists(legacy)) hashes.Add(HMACSHA256.HashData(File.ReadAllBytes(legacy), value));
        var text = Encoding.ASCII.GetString(data);
        return hashes.Sum(h => CountOf(text, Hex(h)));
    }

    private static int CountOf(string text, string needle)
    {
        var n = 0;
        for (var i = text.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = text.IndexOf(needle, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    private static string Hex(byte[] b) => Convert.ToHexStringLower(b);

    /// <summary>Rewrites an account's email rows as the first design stored them: one HMAC under the pre-epoch key.</summary>
    internal static Task StoreAsPreEpochAsync(TestDatabase db, byte[] legacyKey, Guid accountId, string email) => db.ExecAsync($"""
        DELETE FROM plandex_email_lookup WHERE account_id = '{accountId}';
        DELETE FROM plandex_email_index WHERE account_id = '{accountId}';
        INSERT INTO plandex_email_index_legacy (email_hash, account_id)
            VALUES ('\x{Hex(HMACSHA256.HashData(legacyKey, Encoding.UTF8.GetBytes(email)))}', '{accountId}');
        """);

    private static async Task ExecAsync(TestDatabase db, string sql)
    {
        await using var conn = new NpgsqlConnection(db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<List<long>> LookupEpochsAsync(TestDatabase db, Guid account)
    {
        await using var conn = new NpgsqlConnection(db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT epoch FROM plandex_email_lookup WHERE account_id = $1 ORDER BY epoch", conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = account });
        var epochs = new List<long>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) epochs.Add(r.GetInt64(0));
        return epochs;
    }
}
