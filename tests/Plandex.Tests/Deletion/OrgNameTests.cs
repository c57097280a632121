using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Providers;
using Orleans.Storage;
using Plandex.GrainInterfaces;
using Plandex.Grains.Accounts;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;

namespace Plandex.Tests.Deletion;

/// <summary>
/// A new org is named after the account that made it ("Xavier's org"). When that account is deleted while the org
/// lives on (another owner stays), the name is that account's personal data: it must leave the live database at
/// once and be unreadable in backups once the deleted account's key is, not live on in the org's state or in a copy
/// held by every other member's account state.
/// </summary>
public sealed class OrgNameTests
{
    [Fact]
    public async Task A_deleted_accounts_name_is_in_no_readable_state_of_its_surviving_org_or_members_live_or_backed_up()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "org-name");
        await using var anonymous = await silo.ConnectAsync();
        var canary = CanaryScanner.NewCanary();

        var x = await anonymous.SignUpAsync(new SignUpRequest($"x{Guid.NewGuid():N}@example.com", "Xavier " + canary));
        await using var xc = await silo.ConnectAsync(x.Token);
        var oInvite = await xc.Org(x.OrgId).Invite("olga@example.com", OrgRole.Owner);
        var o = await anonymous.SignUpAsync(new SignUpRequest("olga@example.com", "Olga", oInvite.Code));
        var yInvite = await xc.Org(x.OrgId).Invite("yara@example.com", OrgRole.Member);
        var y = await anonymous.SignUpAsync(new SignUpRequest("yara@example.com", "Yara", yInvite.Code));
        await using var oc = await silo.ConnectAsync(o.Token);
        await using var yc = await silo.ConnectAsync(y.Token);

        // Positive controls: every member sees the org's name, and the scan below finds the name in the one state
        // that should hold it, Xavier's own, so a copy elsewhere would be found the same way.
        foreach (var (c, id) in new[] { (xc, x.AccountId), (oc, o.AccountId), (yc, y.AccountId) })
            Assert.Equal($"Xavier {canary}'s org", (await c.Account(id).WhoAmI()).Orgs.Single().OrgName);
        var subjects = new[] { ("account", x.AccountId), ("account", o.AccountId), ("account", y.AccountId), ("org", x.OrgId) };
        var backup = await StateRowsAsync(db); // what a backup taken now holds of every grain state
        var before = await ReadableAsync(db, backup, subjects, canary);
        Assert.Equal(4, before.Opened);
        Assert.Equal([$"account {x.AccountId}"], before.Holding);

        await xc.Account(x.AccountId).DeleteAccount();

        // The org lives on with Olga and Yara, and is no longer called after Xavier.
        var unnamed = "org " + x.OrgId.ToString("N")[..8];
        foreach (var (c, id) in new[] { (oc, o.AccountId), (yc, y.AccountId) })
            Assert.Equal(unnamed, (await c.Account(id).WhoAmI()).Orgs.Single(m => m.OrgId == x.OrgId).OrgName);
        Assert.Equal(new[] { "olga@example.com", "yara@example.com" }, (await oc.Org(x.OrgId).Users()).Select(u => u.Email).Order());

        // With every key still alive, neither the live states nor the backup's copies of them hold the name: only
        // Xavier's own state did, and his key is gone (in backups: once its epoch expires, BackupExpiryTests).
        var live = await ReadableAsync(db, await StateRowsAsync(db), subjects, canary);
        Assert.Equal(3, live.Opened);
        Assert.Empty(live.Holding);
        var backedUp = await ReadableAsync(db, backup, subjects, canary);
        Assert.Equal(3, backedUp.Opened);
        Assert.Empty(backedUp.Holding);
        Console.WriteLine($"[measure] org named after a deleted account: backup before {before.Opened} readable states, 1 holding the name; after: live {live.Opened}, backup {backedUp.Opened}, none holding it");
    }

    [Fact]
    public async Task State_stored_before_the_name_was_sealed_is_moved_on_first_activation()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var db = await TestDatabase.CreateAsync();
        SignInResult a;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            a = await anonymous.SignUpAsync(new SignUpRequest($"o{Guid.NewGuid():N}@example.com", "Olivia"));
            // Rewrite both states as the first version stored them: the name in the org's state and in the account's.
            var storage = Storage(first);
            var account = await ReadAsync<AccountState>(first, storage, "account", first.Grains.GetGrain<IAccountGrain>(a.AccountId).GetGrainId());
            account.State!.LegacyOrgs = [new OrgMembership(a.OrgId, "Olivia's first org", OrgRole.Owner)];
            account.State.Orgs = [];
            await storage.WriteStateAsync("account", first.Grains.GetGrain<IAccountGrain>(a.AccountId).GetGrainId(), account);
            var org = await ReadAsync<OrgState>(first, storage, "org", first.Grains.GetGrain<IOrgGrain>(a.OrgId).GetGrainId());
            (org.State!.LegacyName, org.State.SealedName, org.State.NamedBy) = ("Olivia's first org", null, Guid.Empty);
            await storage.WriteStateAsync("org", first.Grains.GetGrain<IOrgGrain>(a.OrgId).GetGrainId(), org);
        }

        // A new silo activates both from the old form: the name still shows, and both states are moved on.
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var client = await silo.ConnectAsync(a.Token);
        Assert.Equal("Olivia's first org", (await client.Account(a.AccountId).WhoAmI()).Orgs.Single().OrgName);
        var moved = await ReadAsync<AccountState>(silo, Storage(silo), "account", silo.Grains.GetGrain<IAccountGrain>(a.AccountId).GetGrainId());
        Assert.Empty(moved.State!.LegacyOrgs);
        Assert.Equal([new AccountMembership(a.OrgId, OrgRole.Owner)], moved.State.Orgs);
        var sealedOrg = await ReadAsync<OrgState>(silo, Storage(silo), "org", silo.Grains.GetGrain<IOrgGrain>(a.OrgId).GetGrainId());
        Assert.Equal("", sealedOrg.State!.LegacyName);
        Assert.Equal(a.AccountId, sealedOrg.State.NamedBy);
        Assert.Equal("Olivia's first org", DataKeys.OpenText(await DataKeys.UnwrapAsync(db, a.AccountId), a.AccountId, "org-name", sealedOrg.State.SealedName!));
    }

    private static IGrainStorage Storage(InProcessSilo silo) =>
        silo.Services.GetRequiredKeyedService<IGrainStorage>(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME);

    private static async Task<GrainState<T>> ReadAsync<T>(InProcessSilo silo, IGrainStorage storage, string name, GrainId id) where T : new()
    {
        var state = new GrainState<T>(new T());
        await storage.ReadStateAsync(name, id, state);
        Assert.True(state.RecordExists, $"{name} state of {id} on {silo.ClusterId}");
        return state;
    }

    /// <summary>Every grain state row's sealed blob (the inner storage writes the sealed state as Newtonsoft JSON, the byte array as {"$type", "$value": base64}).</summary>
    private static async Task<List<byte[]>> StateRowsAsync(TestDatabase db)
    {
        await using var conn = new NpgsqlConnection(db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT payloadbinary FROM orleansstorage WHERE payloadbinary IS NOT NULL", conn);
        await using var r = await cmd.ExecuteReaderAsync();
        var blobs = new List<byte[]>();
        while (await r.ReadAsync())
        {
            using var json = JsonDocument.Parse(r.GetFieldValue<byte[]>(0));
            if (json.RootElement.TryGetProperty("Blob", out var blob) && blob.TryGetProperty("$value", out var value))
                blobs.Add(value.GetBytesFromBase64());
        }
        return blobs;
    }

    /// <summary>
    /// Opens each blob with whichever live data key (from the live database and epoch key files) it was sealed under,
    /// as anyone holding a backup and the live keys could; returns how many opened and which of them hold the canary.
    /// </summary>
    private static async Task<(int Opened, List<string> Holding)> ReadableAsync(TestDatabase db, List<byte[]> blobs,
        IEnumerable<(string Kind, Guid Id)> subjects, string canary)
    {
        var keys = new List<(string Kind, Guid Id, byte[] Key)>();
        foreach (var (kind, id) in subjects)
            if (await DataKeys.ReadWrappedAsync(db, id) is not null) keys.Add((kind, id, await DataKeys.UnwrapAsync(db, id)));
        var scanner = new SecretScanner().AddText("name", canary);
        var (opened, holding) = (0, new List<string>());
        foreach (var blob in blobs)
        {
            foreach (var (kind, id, key) in keys)
            {
                byte[] plain;
                try { plain = DataKeys.Open(key, id, "state:" + kind, blob); }
                catch (AuthenticationTagMismatchException) { continue; } // another subject's, or another kind's
                opened++;
                if (scanner.Scan(plain).Total > 0) holding.Add($"{kind} {id}");
                break;
            }
        }
        return (opened, holding);
    }
}
