using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Plans;
using Plandex.Grains.Retention;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Deletion;

/// <summary>
/// Crypto-shredding of backups: a pg_dump taken before a plan's deletion, restored into a scratch database day by
/// day while a fake clock drives the real silo's retention reminders. Until the window has passed the restored plan
/// still decrypts with the live epoch key store (so the test is real); then its epoch key is destroyed and the same
/// dump yields only "key destroyed".
/// </summary>
public sealed class BackupExpiryTests
{
    // Noon, so the deletion is half a day into its epoch and every daily step crosses one epoch boundary.
    private static readonly DateTimeOffset Start = new(2030, 3, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_dump_from_before_a_deletion_decrypts_until_day_6_and_is_key_destroyed_from_day_7()
    {
        var clock = new FakeTimeProvider(Start);
        var window = new RetentionOptions().Window;
        await using var db = await TestDatabase.CreateAsync();
        await using var stub = await ProviderStubServer.StartAsync();
        await using var silo = await InProcessSilo.StartAsync(db, clock, StreamWorld.StreamSettings);
        await using var anonymous = await silo.ConnectAsync();
        var account = await anonymous.SignUpAsync(new SignUpRequest($"u{Guid.NewGuid():N}@example.com", "Backup"));
        await using var client = await silo.ConnectAsync(account.Token);

        var canary = CanaryScanner.NewCanary();
        var path = $"notes/{canary}.txt";
        var plan = (await client.Org(account.OrgId).CreatePlan("expiring")).PlanId;
        await client.Plan(plan).SetModel(new ModelSettings("openai", "stub-tokens=2"));
        await client.Plan(plan).LoadContext([new ContextUpload(path, "body " + canary)]);
        var key = Encoding.UTF8.GetBytes("sk-test-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
        await client.Streams.TellAsync(plan, "prompt " + canary, stub.BaseUrl.ToString().TrimEnd('/') + "/v1", key);
        var events = await StreamWorld.CollectAsync(client, plan);
        StreamWorld.AssertFinished(events);
        var keyEpoch = (await DataKeys.ReadWrappedAsync(db, plan))!.Value.Epoch;

        var dump = await Evidence.PgDumpAsync(db);
        Assert.Equal(0, new CanaryScanner(canary).Scan(dump).Total); // the backup itself holds ciphertext only
        var receipt = await client.Plan(plan).Delete();
        Assert.Null(await DataKeys.ReadWrappedAsync(db, plan));
        Assert.Equal(Start, receipt.DeletedAt);

        var report = new List<string>();
        for (var day = 0; day <= 7; day++)
        {
            if (day > 0)
            {
                await silo.AdvanceAsync(TimeSpan.FromDays(1));
                // One epoch tick per day, run by the durable reminder (not by the test).
                await Poll.UntilAsync(async () => await EpochTicksAsync(db) >= day, TimeSpan.FromSeconds(30),
                    () => $"day {day}: the retention reminder did not tick; silo log:\n{string.Join('\n', silo.Lines.TakeLast(30))}");
            }
            var now = clock.GetUtcNow();
            var outcome = await ReadRestoredAsync(dump, db, clock, plan, path);
            var purgedAt = await db.ScalarAsync<DateTime?>($"SELECT purged_at FROM plandex_deletion_receipts WHERE id = '{receipt.Id}'");
            var epochs = DataKeys.EpochFiles(db);
            report.Add($"day {day}: {(outcome.Error is null ? "decrypts" : "key destroyed")}, {epochs.Count} epoch keys, receipt {(purgedAt is null ? "unpurged" : "purged")}");

            if (day < 7)
            {
                Assert.True(outcome.Error is null, $"day {day}: the restored plan must still decrypt: {outcome.Error}");
                Assert.True(outcome.CanaryBack, $"day {day}: decrypted, but the canary is not in the restored plan");
                Assert.Null(purgedAt);
                Assert.Contains(keyEpoch, epochs);
            }
            else
            {
                Assert.NotNull(outcome.Error);
                Assert.StartsWith("key destroyed", outcome.Error);
                Assert.DoesNotContain(keyEpoch, epochs);
                Assert.All(epochs, e => Assert.True(DateTimeOffset.FromUnixTimeSeconds(e) > now - window,
                    $"epoch {DateTimeOffset.FromUnixTimeSeconds(e):u} is older than the window at {now:u}"));
                await Poll.UntilAsync(async () => await db.ScalarAsync<DateTime?>(
                        $"SELECT purged_at FROM plandex_deletion_receipts WHERE id = '{receipt.Id}'") is not null,
                    TimeSpan.FromSeconds(10), () => "the receipt was not marked purged after its epoch key was destroyed");
            }
        }
        Console.WriteLine($"[measure] backup expiry (deleted {Start:u}, window {window.TotalDays} d): {string.Join("; ", report)}");

        // The live account is untouched by all that rotating: its key was re-wrapped each day, not lost.
        Assert.Equal(account.Email, (await client.Account(account.AccountId).WhoAmI()).Email);
    }

    /// <summary>Ticks the retention grain has processed: its plain ("system") state is written once per tick.</summary>
    internal static async Task<long> EpochTicksAsync(TestDatabase db) =>
        await db.ScalarAsync<int?>("SELECT max(version) FROM orleansstorage WHERE graintypestring LIKE '%retention%'") ?? 0;

    /// <summary>
    /// Restores the dump into a scratch database and reads the plan with the product's own KeyRing, Envelope and
    /// PlanStore (fresh instances: no cached keys), against the live epoch key store.
    /// </summary>
    private static async Task<(string? Error, bool CanaryBack)> ReadRestoredAsync(byte[] dump, TestDatabase db, TimeProvider clock, Guid plan, string path)
    {
        await using var scratch = await ScratchDatabase.RestoreAsync(dump);
        await using var ds = NpgsqlDataSource.Create(scratch.ConnectionString);
        Assert.Equal(1L, (long)(await ds.CreateCommand($"SELECT count(*) FROM plandex_data_keys WHERE subject_id = '{plan}'").ExecuteScalarAsync())!);
        using var ring = new KeyRing(ds, new DirectoryEpochKeyStore(DataKeys.EpochDirectory(db)), clock, Options.Create(new RetentionOptions()));
        var store = new PlanStore(ds, new Envelope(ring), new DeletionStore(ds, ring, clock, Options.Create(new RetentionOptions())));
        try
        {
            var messages = await store.Messages(plan, int.MaxValue); // every row the dump holds
            var body = await store.ContextBody(plan, path);
            var canary = Path.GetFileNameWithoutExtension(path);
            return (null, messages.Any(m => m.Content.Contains(canary)) && body is not null && body.Contains(canary));
        }
        catch (KeyDestroyedException e)
        {
            return (e.Message, false);
        }
    }
}
