using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>
/// An account's deletion calls its orgs while an org may be calling that account (a role change, a removal, the
/// org's own deletion by its last owner telling the other members). Each side used to wait for the other until
/// Orleans' 30 s call timeout failed one of them. The account's membership copies are now changed alongside its
/// other calls (<c>[AlwaysInterleave]</c>), so both sides finish.
/// </summary>
public sealed class MembershipRaceTests
{
    // Every data key's deletion (a plan's, an org's, an account's erasure) sleeps, so one deletion is still inside an
    // org's turn when the next call reaches that org.
    private const string SlowErasure = """
        CREATE FUNCTION slow_erasure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1); RETURN OLD; END $$;
        CREATE TRIGGER slow_erasure BEFORE DELETE ON plandex_data_keys FOR EACH ROW EXECUTE FUNCTION slow_erasure();
        """;

    [Fact]
    public async Task The_last_owner_and_a_member_deleting_their_accounts_at_once_both_finish()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        await oc.Org(olga.OrgId).CreatePlan("doomed");
        await db.ExecAsync(SlowErasure);

        // Olga's deletion reaches her org first (it erases the plan, slowly, and then tells Pia's account the org is
        // gone); Pia's deletion asks the same org to remove her meanwhile.
        var olgaDeletes = oc.Account(olga.AccountId).DeleteAccount();
        await SleepingAsync(db);
        var piaDeletes = pc.Account(pia.AccountId).DeleteAccount();

        await Task.WhenAll(olgaDeletes, piaDeletes);
        Assert.Equal(0L, await db.ScalarAsync<long>(
            "SELECT count(*) FROM orleansstorage WHERE graintypestring IN ('account', 'org') AND payloadbinary IS NOT NULL"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_data_keys"));
    }

    [Fact]
    public async Task A_role_change_racing_the_members_deletion_is_refused_with_a_reason_and_the_deletion_finishes()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        await db.ExecAsync(SlowErasure);

        // Pia's deletion erases her own org first (slowly); Olga changes her role in Olga's org meanwhile, which asks
        // Pia's account to record it while that account waits to reach Olga's org.
        var piaDeletes = pc.Account(pia.AccountId).DeleteAccount();
        await SleepingAsync(db);
        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => oc.Org(olga.OrgId).SetRole(pia.AccountId, OrgRole.Admin));
        Assert.Equal("that account is being deleted", e.Message);

        await piaDeletes;
        Assert.Equal([olga.AccountId], (await oc.Org(olga.OrgId).Users()).Select(m => m.AccountId));
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE graintypestring = 'account' AND payloadbinary IS NOT NULL"));
    }

    [Fact]
    public async Task A_removal_racing_the_members_deletion_finishes_and_so_does_the_deletion()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        await db.ExecAsync(SlowErasure);

        var piaDeletes = pc.Account(pia.AccountId).DeleteAccount();
        await SleepingAsync(db);
        await oc.Org(olga.OrgId).RemoveUser(pia.AccountId);

        await piaDeletes;
        Assert.Equal([olga.AccountId], (await oc.Org(olga.OrgId).Users()).Select(m => m.AccountId));
    }

    [Fact]
    public async Task A_plan_deleted_while_its_owners_account_is_deleted_is_erased_once_and_both_finish()
    {
        await using var w = await TwoAccounts.PiaInOlgasOrgAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        var plan = await pc.Org(olga.OrgId).CreatePlan("pias");
        await pc.Plan(plan.PlanId).LoadContext([new ContextUpload("a.txt", "context")]);
        // Only the plan's context rows are slow to delete: the plan's erasure holds the plan while the rest is quick.
        await db.ExecAsync("""
            CREATE FUNCTION slow_context() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(2); RETURN OLD; END $$;
            CREATE TRIGGER slow_context BEFORE DELETE ON plandex_context_items FOR EACH ROW EXECUTE FUNCTION slow_context();
            """);

        // Olga (the org's owner) deletes Pia's plan; while it is being erased, Pia's deletion asks the org to erase the
        // plans she owns, that one included.
        var olgaDeletesPlan = oc.Plan(plan.PlanId).Delete();
        await SleepingAsync(db);
        var piaDeletes = pc.Account(pia.AccountId).DeleteAccount();

        var receipt = await olgaDeletesPlan;
        Assert.Equal(plan.PlanId, receipt.SubjectId);
        await piaDeletes;
        Assert.Empty(await oc.Org(olga.OrgId).Plans());
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_deletion_receipts WHERE subject_id = '{plan.PlanId}'"));
    }

    /// <summary>Waits until a deletion is inside its slowed erasure (PostgreSQL shows the sleep).</summary>
    private static async Task SleepingAsync(TestDatabase db)
    {
        for (var i = 0; i < 200; i++)
        {
            if (await db.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'") > 0) return;
            await Task.Delay(25);
        }
        throw new TimeoutException("no deletion reached its erasure within 5 s");
    }
}
