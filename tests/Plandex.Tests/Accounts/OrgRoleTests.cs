using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>
/// Changing a member's role (<c>IOrgGrain.SetRole</c>, <c>plandex set-role</c>): who may, the last owner, and a change
/// the member's account cannot record leaves the org as it was. The hostile cases are in <see cref="HostileClientTests"/>.
/// </summary>
public sealed class OrgRoleTests
{
    [Fact]
    public async Task Owners_and_admins_change_roles_within_their_own_and_the_last_owner_cannot_step_down()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        var orgO = olga.OrgId;

        // A member changes no role, hers included.
        var e = await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => pc.Org(orgO).SetRole(pia.AccountId, OrgRole.Admin));
        Assert.Equal("this needs the admin role", e.Message);

        // The owner makes her admin: the org and her account both say so, and she can do what an admin does.
        await oc.Org(orgO).SetRole(pia.AccountId, OrgRole.Admin);
        Assert.Equal(OrgRole.Admin, await RoleIn(w, orgO, pia.AccountId));
        Assert.Equal(OrgRole.Admin, (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Single(o => o.OrgId == orgO).Role);
        await pc.Org(orgO).Invite($"r{Guid.NewGuid():N}@example.com", OrgRole.Member);

        // An admin makes no owner, herself included, and unmakes none.
        e = await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => pc.Org(orgO).SetRole(pia.AccountId, OrgRole.Owner));
        Assert.Equal("only an owner can make or unmake an owner", e.Message);
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => pc.Org(orgO).SetRole(olga.AccountId, OrgRole.Member));

        // The last owner cannot step down; with a second owner she can, and is then an admin like any other.
        var last = await Refusals.AssertRefusedAsync<InvalidRequestException>(db, () => oc.Org(orgO).SetRole(olga.AccountId, OrgRole.Admin));
        Assert.Equal("the org's last owner cannot step down: make another member owner first", last.Message);
        await oc.Org(orgO).SetRole(pia.AccountId, OrgRole.Owner);
        await oc.Org(orgO).SetRole(olga.AccountId, OrgRole.Admin);
        Assert.Equal(OrgRole.Admin, (await oc.Account(olga.AccountId).WhoAmI()).Orgs.Single(o => o.OrgId == orgO).Role);
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => oc.Org(orgO).SetRole(olga.AccountId, OrgRole.Owner));

        // The role she already has changes nothing, not even a row's version; bad input is one clear error.
        await Refusals.AssertRefusedAsync<InvalidRequestException>(db, () => pc.Org(orgO).SetRole(Guid.NewGuid(), OrgRole.Member));
        await Refusals.AssertRefusedAsync<InvalidRequestException>(db, () => pc.Org(orgO).SetRole(olga.AccountId, (OrgRole)99));
        var before = await db.SnapshotAsync();
        await pc.Org(orgO).SetRole(olga.AccountId, OrgRole.Admin);
        Refusals.AssertUnchanged(before, await db.SnapshotAsync());
    }

    [Fact]
    public async Task A_role_the_members_account_cannot_record_is_undone_in_the_org()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        var orgO = olga.OrgId;

        await w.RefuseAccountWritesAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => oc.Org(orgO).SetRole(pia.AccountId, OrgRole.Admin));
        Assert.Equal(OrgRole.Member, await RoleIn(w, orgO, pia.AccountId));
        Assert.Equal(OrgRole.Member, (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Single(o => o.OrgId == orgO).Role);
        await Assert.ThrowsAsync<AccessDeniedException>(() => pc.Org(orgO).Invite($"r{Guid.NewGuid():N}@example.com", OrgRole.Member));

        await w.AllowAccountWritesAsync();
        await oc.Org(orgO).SetRole(pia.AccountId, OrgRole.Admin);
        Assert.Equal(OrgRole.Admin, await RoleIn(w, orgO, pia.AccountId));
        Assert.Equal(OrgRole.Admin, (await pc.Account(pia.AccountId).WhoAmI()).Orgs.Single(o => o.OrgId == orgO).Role);
    }

    private static async Task<OrgRole> RoleIn(TwoAccounts w, Guid orgId, Guid accountId) =>
        (await w.Oc.Org(orgId).Users()).Single(m => m.AccountId == accountId).Role;
}
