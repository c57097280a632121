using Microsoft.Extensions.Time.Testing;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>
/// An existing account joining an org with an invite (<c>IAccountGrain.JoinOrg</c>, <c>plandex join</c>): a join
/// that cannot complete spends nothing and leaves no half-made membership. The CLI flow and the hostile cases are in
/// <see cref="CliAccountTests"/> and <see cref="HostileClientTests"/>.
/// </summary>
public sealed class JoinOrgTests
{
    private const string OrgStates = "SELECT count(*) FROM orleansstorage WHERE graintypestring = 'org' AND payloadbinary IS NOT NULL";

    [Fact]
    public async Task A_join_that_loses_the_race_with_its_orgs_deletion_changes_no_account_and_brings_no_org_back()
    {
        await using var w = await TwoAccounts.StartAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        var invite = await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Admin);

        // Olga's deletion erases her org with its invites; the invite is put back as it stood, as if Pia had claimed
        // it a moment before the org went.
        var putBack = await db.ScalarAsync<string>(
            "SELECT format('INSERT INTO plandex_invites SELECT * FROM json_populate_record(NULL::plandex_invites, %L)', row_to_json(i)) FROM plandex_invites i");
        await oc.Account(olga.AccountId).DeleteAccount();
        await db.ExecAsync(putBack!);
        var orgStates = await db.ScalarAsync<long>(OrgStates);

        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => pc.Account(pia.AccountId).JoinOrg(invite.Code));
        Assert.Equal("that org no longer exists", e.Message);
        Assert.Equal([pia.OrgId], (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Select(o => o.OrgId));
        Assert.Equal(orgStates, await db.ScalarAsync<long>(OrgStates));
        Assert.True(await db.ScalarAsync<bool>("SELECT used_at IS NULL FROM plandex_invites"), "the invite was spent on a join that did not happen");
    }

    [Fact]
    public async Task Only_the_invited_account_joins_once_and_a_removed_member_is_invited_back()
    {
        await using var w = await TwoAccounts.StartAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        await using var anonymous = await w.Silo.ConnectAsync();
        var quinn = await anonymous.SignUpAsync(new SignUpRequest($"q{Guid.NewGuid():N}@example.com", "Quinn"));
        await using var qc = await w.Silo.ConnectAsync(quinn.Token);
        var plan = (await oc.Org(olga.OrgId).CreatePlan("olga's")).PlanId;
        var invite = await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Member);

        // Quinn has the code but not the email it was made for: refused, counted, and the invite is still Pia's.
        var e = await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => qc.Account(quinn.AccountId).JoinOrg(invite.Code), Refusals.FailureCounters);
        Assert.Equal("invite code is unknown, used, expired or for another email", e.Message);
        Assert.Equal(OrgRole.Member, (await pc.Account(pia.AccountId).JoinOrg(invite.Code)).Role);
        Assert.Equal("olga's", (await pc.Plan(plan).Describe()).Name);
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => pc.Account(pia.AccountId).JoinOrg(invite.Code), Refusals.FailureCounters);

        // Removed, Pia keeps her account and her own org; a new invite brings her back, in the role it names.
        await oc.Org(olga.OrgId).RemoveUser(pia.AccountId);
        Assert.Equal([pia.OrgId], (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Select(o => o.OrgId));
        await Assert.ThrowsAsync<AccessDeniedException>(() => pc.Plan(plan).Describe());
        var again = await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Admin);
        Assert.Equal(new OrgMembership(olga.OrgId, "Olga's org", OrgRole.Admin), await pc.Account(pia.AccountId).JoinOrg(again.Code));
        Assert.Equal([pia.OrgId, olga.OrgId], (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Select(o => o.OrgId));
        Assert.Contains(await oc.Org(olga.OrgId).Users(), m => m.AccountId == pia.AccountId && m.Role == OrgRole.Admin);
        Assert.Equal("olga's", (await pc.Plan(plan).Describe()).Name);
    }

    [Fact]
    public async Task A_removal_her_account_could_not_record_still_takes_her_out_is_not_shown_and_does_not_keep_her_from_rejoining()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (olga, pia, oc, pc) = (w.Olga, w.Pia, w.Oc, w.Pc);
        var plan = (await oc.Org(olga.OrgId).CreatePlan("olga's")).PlanId;

        // PostgreSQL refuses every account's state write: the org lets Pia go, her account keeps its copy of the org.
        await w.RefuseAccountWritesAsync();
        await oc.Org(olga.OrgId).RemoveUser(pia.AccountId);
        await Assert.ThrowsAsync<AccessDeniedException>(() => pc.Plan(plan).Describe());
        Assert.DoesNotContain(await oc.Org(olga.OrgId).Users(), m => m.AccountId == pia.AccountId);
        // whoami asks each org: the copy the org does not back is not shown.
        Assert.Equal([pia.OrgId], (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Select(o => o.OrgId));
        await w.AllowAccountWritesAsync();

        // Invited back, she joins: the copy left behind is replaced, not taken for a membership.
        var again = await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Admin);
        Assert.Equal(OrgRole.Admin, (await pc.Account(pia.AccountId).JoinOrg(again.Code)).Role);
        Assert.Equal([(pia.OrgId, OrgRole.Owner), (olga.OrgId, OrgRole.Admin)],
            (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Select(o => (o.OrgId, o.Role)));
        Assert.Equal("olga's", (await pc.Plan(plan).Describe()).Name);
    }

    [Fact]
    public async Task A_member_leaves_with_their_plans_left_to_the_org_and_the_last_owner_cannot_leave()
    {
        await using var w = await TwoAccounts.StartAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        await pc.Account(pia.AccountId).JoinOrg((await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Owner)).Code);
        var piasPlan = (await pc.Org(olga.OrgId).CreatePlan("pia's, in olga's org")).PlanId;

        await pc.Org(olga.OrgId).Leave();
        Assert.Equal([pia.OrgId], (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Select(o => o.OrgId));
        Assert.DoesNotContain(await oc.Org(olga.OrgId).Users(), m => m.AccountId == pia.AccountId);
        await Assert.ThrowsAsync<AccessDeniedException>(() => pc.Plan(piasPlan).Describe());
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => pc.Org(olga.OrgId).Leave());
        // The plan stays with the org, and its owner or admin can delete it.
        Assert.Equal("pia's, in olga's org", (await oc.Plan(piasPlan).Describe()).Name);

        // Olga is now the last owner again: she cannot leave (she can delete her account, which takes the org).
        var e = await Refusals.AssertRefusedAsync<InvalidRequestException>(db, () => oc.Org(olga.OrgId).Leave());
        Assert.Equal("cannot remove the org's last owner", e.Message);
        await oc.Plan(piasPlan).Delete();
    }

    [Fact]
    public async Task A_second_invite_to_an_org_the_account_already_joined_is_refused_and_stays_unused()
    {
        await using var w = await TwoAccounts.StartAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        var first = await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Member);
        var second = await oc.Org(olga.OrgId).Invite(pia.Email, OrgRole.Owner);

        Assert.Equal(new OrgMembership(olga.OrgId, "Olga's org", OrgRole.Member), await pc.Account(pia.AccountId).JoinOrg(first.Code));
        var e = await Refusals.AssertRefusedAsync<InvalidRequestException>(db, () => pc.Account(pia.AccountId).JoinOrg(second.Code));
        Assert.Equal("you are already a member of that org", e.Message);
        Assert.Contains(await oc.Org(olga.OrgId).Users(), m => m.AccountId == pia.AccountId && m.Role == OrgRole.Member);
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_invites WHERE used_at IS NULL"));
    }
}
