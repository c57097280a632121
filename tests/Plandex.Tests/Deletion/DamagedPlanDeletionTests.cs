using Microsoft.Extensions.Time.Testing;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Deletion;

/// <summary>
/// The right to erasure does not depend on every row being readable: an account whose plan can no longer be opened
/// (its wrapped data key damaged, so the plan's grain cannot activate) is still deleted, that plan with it, and so is
/// one whose grain-state row a lost second step left behind (its key already gone).
/// </summary>
public sealed class DamagedPlanDeletionTests
{
    private static readonly DateTimeOffset Start = new(2030, 3, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Deleting_an_account_erases_a_plan_whose_key_is_damaged()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        SignInResult owner;
        Guid healthy, damaged, ghost;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            owner = await anonymous.SignUpAsync(new SignUpRequest($"d{Guid.NewGuid():N}@example.com", "Owner"));
            await using var c = await first.ConnectAsync(owner.Token);
            healthy = (await c.Org(owner.OrgId).CreatePlan("healthy")).PlanId;
            damaged = (await c.Org(owner.OrgId).CreatePlan("damaged")).PlanId;
            ghost = (await c.Org(owner.OrgId).CreatePlan("deleted, but its grain-state row and the org's list survived")).PlanId;
            foreach (var plan in new[] { healthy, damaged, ghost })
                await c.Plan(plan).LoadContext([new ContextUpload("notes.md", "notes of " + plan)]);
            // The ghost's deletion loses its last steps: its state row comes back, and so does the org's state as it
            // stood before (the plan still listed), as if the silo had died right after the deletion's transaction.
            var before = await InterruptedDeletionTests.ContentRowsAsync(db);
            await c.Plan(ghost).Delete();
            var after = await InterruptedDeletionTests.ContentRowsAsync(db);
            var orgRow = Assert.Single(before.Keys, k => k.StartsWith("org/"));
            await db.ExecAsync($"DELETE FROM orleansstorage WHERE graintypestring = 'org'");
            foreach (var row in before.Keys.Where(k => !after.ContainsKey(k) || k == orgRow)) await db.ExecAsync(before[row]);
        }
        await DataKeys.DamageAsync(db, damaged);

        // A fresh silo: no key cached, so the damaged plan's grain cannot activate.
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var client = await silo.ConnectAsync(owner.Token);
        // A client-library caller gets one line naming the plan, not Orleans' text with the server's stack trace.
        var refused = await Assert.ThrowsAsync<UnreadableDataException>(() => client.Plan(damaged).Describe());
        Console.WriteLine($"[measure] a damaged plan's call fails with {refused.GetType().Name}: {refused.Message}");
        Assert.Equal($"plan {damaged.ToString("N")[..8]} cannot be read: its stored state or its data key is damaged (its operator can restore the row from a backup)", refused.Message);

        // The rest of the org keeps working: the listing shows the damaged plan as unreadable (and not the deleted
        // one), plans can still be made, and the active-stream view skips what it cannot read.
        var listed = await client.Org(owner.OrgId).Plans();
        Assert.Equal(new[] { damaged, healthy }.Order(), listed.Select(p => p.PlanId).Order());
        Assert.Equal($"(unreadable plan {damaged.ToString("N")[..8]})", listed.Single(p => p.PlanId == damaged).Name);
        Assert.Equal("healthy", listed.Single(p => p.PlanId == healthy).Name);
        var later = (await client.Org(owner.OrgId).CreatePlan("made after the damage")).PlanId;
        Assert.Empty(await client.Org(owner.OrgId).ActiveStreams());

        var receipts = await client.Account(owner.AccountId).DeleteAccount();
        Assert.Equal(new[] { damaged, healthy, later, owner.OrgId, owner.AccountId }.Order(), receipts.Select(r => r.SubjectId).Order());
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_deletion_receipts WHERE subject_id = '{ghost}'")); // no second receipt
        foreach (var table in new[] { "plandex_plan_messages", "plandex_context_items", "plandex_data_keys" })
            Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM {table}"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE graintypestring NOT LIKE '%retention%'"));
        // What the real silo logs of this, and what the CLI prints: CliAccountTests (real processes).
    }

    [Fact]
    public async Task An_unreadable_plan_is_deleted_through_its_org_by_its_owner_or_an_admin_only()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        SignInResult owner, member, stranger;
        Guid damaged, readable;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            owner = await anonymous.SignUpAsync(new SignUpRequest($"p{Guid.NewGuid():N}@example.com", "Pia"));
            stranger = await anonymous.SignUpAsync(new SignUpRequest($"s{Guid.NewGuid():N}@example.com", "Sam"));
            await using var c = await first.ConnectAsync(owner.Token);
            var memberEmail = $"m{Guid.NewGuid():N}@example.com";
            var invite = await c.Org(owner.OrgId).Invite(memberEmail, OrgRole.Member);
            member = await anonymous.SignUpAsync(new SignUpRequest(memberEmail, "Mo", invite.Code));
            damaged = (await c.Org(owner.OrgId).CreatePlan("damaged")).PlanId;
            readable = (await c.Org(owner.OrgId).CreatePlan("readable")).PlanId;
            await c.Plan(damaged).LoadContext([new ContextUpload("notes.md", "notes")]);
        }
        await DataKeys.DamageAsync(db, damaged);

        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var oc = await silo.ConnectAsync(owner.Token);
        await using var mc = await silo.ConnectAsync(member.Token);
        await using var sc = await silo.ConnectAsync(stranger.Token);
        await Assert.ThrowsAsync<AccessDeniedException>(() => mc.Org(owner.OrgId).DeleteUnreadablePlan(damaged)); // not its owner, not admin
        await Assert.ThrowsAsync<AccessDeniedException>(() => sc.Org(owner.OrgId).DeleteUnreadablePlan(damaged)); // not a member
        await Assert.ThrowsAsync<InvalidRequestException>(() => oc.Org(owner.OrgId).DeleteUnreadablePlan(readable)); // use delete-plan
        Assert.NotNull(await DataKeys.ReadWrappedAsync(db, damaged));

        var receipt = await oc.Org(owner.OrgId).DeleteUnreadablePlan(damaged);
        Assert.Equal((damaged, "plan"), (receipt.SubjectId, receipt.Kind));
        Assert.Null(await DataKeys.ReadWrappedAsync(db, damaged));
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_context_items WHERE plan_id = '{damaged}'"));
        Assert.Equal(new[] { readable }, (await oc.Org(owner.OrgId).Plans()).Select(p => p.PlanId));
        Assert.Equal("readable", (await oc.Plan(readable).Describe()).Name);
    }

    [Fact]
    public async Task An_org_that_cannot_be_read_shows_as_unreadable_and_blocks_its_owners_deletion_without_half_doing_it()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        SignInResult owner;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            owner = await anonymous.SignUpAsync(new SignUpRequest($"o{Guid.NewGuid():N}@example.com", "Olga"));
            await using var c = await first.ConnectAsync(owner.Token);
            await c.Org(owner.OrgId).CreatePlan("inside");
        }
        await DataKeys.DamageAsync(db, owner.OrgId);

        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var client = await silo.ConnectAsync(owner.Token);
        var me = await client.Account(owner.AccountId).WhoAmI();
        Assert.Equal($"org {owner.OrgId.ToString("N")[..8]} (unreadable)", Assert.Single(me.Orgs).OrgName);

        // The org's plans are listed only in its sealed state: deleting the account now would leave them behind,
        // so the deletion is refused as a whole, before anything is erased.
        var snapshot = await db.SnapshotAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => client.Account(owner.AccountId).DeleteAccount());
        Assert.Equal(snapshot, await db.SnapshotAsync());
    }

    [Fact]
    public async Task An_unreadable_second_org_refuses_the_deletion_before_the_first_is_touched()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        SignInResult owner, other;
        Guid mine;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            owner = await anonymous.SignUpAsync(new SignUpRequest($"o{Guid.NewGuid():N}@example.com", "Olga"));
            other = await anonymous.SignUpAsync(new SignUpRequest($"p{Guid.NewGuid():N}@example.com", "Pia"));
            await using var oc = await first.ConnectAsync(owner.Token);
            await using var pc = await first.ConnectAsync(other.Token);
            mine = (await oc.Org(owner.OrgId).CreatePlan("in her own org")).PlanId;
            // Olga joins Pia's org second, so her own org comes first in her list of memberships.
            await oc.Account(owner.AccountId).JoinOrg((await pc.Org(other.OrgId).Invite(owner.Email, OrgRole.Member)).Code);
            await oc.Org(other.OrgId).CreatePlan("in pia's org");
            Assert.Equal([owner.OrgId, other.OrgId], (await oc.Account(owner.AccountId).WhoAmI()).Orgs.Select(o => o.OrgId));
        }
        await DataKeys.DamageAsync(db, other.OrgId);

        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var client = await silo.ConnectAsync(owner.Token);
        var snapshot = await db.SnapshotAsync();
        var refused = await Assert.ThrowsAsync<UnreadableDataException>(() => client.Account(owner.AccountId).DeleteAccount());
        Assert.StartsWith($"org {other.OrgId.ToString("N")[..8]} cannot be read", refused.Message);
        Assert.Equal(snapshot, await db.SnapshotAsync());
        Assert.Equal("in her own org", (await client.Plan(mine).Describe()).Name);
    }
}
