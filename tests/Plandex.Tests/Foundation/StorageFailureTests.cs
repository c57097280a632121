using System.Security.Cryptography;
using Microsoft.Extensions.Time.Testing;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Foundation;

/// <summary>
/// A database failure reaches a client-library caller as one line naming the grain (<c>DatabaseFailures</c>), not as
/// Orleans' serialization failure over Npgsql's exception, and leaves nothing half-made behind. (Unreadable state
/// during activation: <c>DamagedPlanDeletionTests</c>.)
/// </summary>
public sealed class StorageFailureTests
{
    [Fact]
    public async Task A_refused_state_write_gives_the_caller_one_line_and_the_org_lists_nothing_half_made()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, new FakeTimeProvider(DateTimeOffset.UtcNow));
        await using var anonymous = await silo.ConnectAsync();
        var owner = await anonymous.SignUpAsync(new SignUpRequest($"s{Guid.NewGuid():N}@example.com", "Owner"));
        await using var c = await silo.ConnectAsync(owner.Token);
        await c.Org(owner.OrgId).CreatePlan("before");

        await db.ExecAsync("""
            CREATE FUNCTION test_refuse_state() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
            CREATE TRIGGER test_refuse_state BEFORE INSERT OR UPDATE ON orleansstorage FOR EACH ROW EXECUTE FUNCTION test_refuse_state();
            """);
        var refused = await Assert.ThrowsAsync<DatabaseFailureException>(() => c.Org(owner.OrgId).CreatePlan("refused"));
        Console.WriteLine($"[measure] a refused state write reaches the caller as {refused.GetType().Name}: {refused.Message}");
        Assert.Matches(@"^plan [0-9a-f]{8}: its state could not be written: the database failed \(its operator can see why in the silo's log\)$", refused.Message);

        await db.ExecAsync("DROP TRIGGER test_refuse_state ON orleansstorage");
        Assert.Equal(["before"], (await c.Org(owner.OrgId).Plans()).Select(p => p.Name));
        Assert.Equal("after", (await c.Org(owner.OrgId).CreatePlan("after")).Name);
    }

    [Fact]
    public async Task An_org_write_the_database_refuses_leaves_the_orgs_members_and_plans_as_they_are_stored()
    {
        await using var w = await Accounts.TwoAccounts.StartAsync();
        var (db, olga, pia, oc, pc) = (w.Db, w.Olga, w.Pia, w.Oc, w.Pc);
        var org = oc.Org(olga.OrgId);
        await pc.Account(pia.AccountId).JoinOrg((await org.Invite(pia.Email, OrgRole.Member)).Code);
        var plan = (await org.CreatePlan("kept")).PlanId;

        await db.ExecAsync("""
            CREATE FUNCTION test_refuse_orgs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.graintypestring = 'org' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER test_refuse_orgs BEFORE INSERT OR UPDATE ON orleansstorage FOR EACH ROW EXECUTE FUNCTION test_refuse_orgs();
            """);
        await Assert.ThrowsAsync<DatabaseFailureException>(() => org.RemoveUser(pia.AccountId));
        await Assert.ThrowsAsync<DatabaseFailureException>(() => org.SetRole(pia.AccountId, OrgRole.Admin));
        await Assert.ThrowsAsync<DatabaseFailureException>(() => org.CreatePlan("refused"));
        await db.ExecAsync("CREATE OR REPLACE FUNCTION test_refuse_orgs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$");
        var model = (await oc.Plan(plan).Describe()).Model;
        await Assert.ThrowsAsync<DatabaseFailureException>(() => oc.Plan(plan).SetModel(new ModelSettings("anthropic", "refused-model")));
        Assert.Equal(model, (await oc.Plan(plan).Describe()).Model); // every grain's write refused now: the plan keeps its model too
        // The same activation acts on what is stored: Pia is still a member, in her role, and sees the org's plan.
        Assert.Equal(OrgRole.Member, (await org.Users()).Single(m => m.AccountId == pia.AccountId).Role);
        Assert.Equal(["kept"], (await org.Plans()).Select(p => p.Name));
        Assert.Equal("kept", (await pc.Plan(plan).Describe()).Name);
        await Assert.ThrowsAsync<AccessDeniedException>(() => pc.Org(olga.OrgId).Invite($"r{Guid.NewGuid():N}@example.com", OrgRole.Member));

        await db.ExecAsync("DROP TRIGGER test_refuse_orgs ON orleansstorage");
        await oc.Plan(plan).SetModel(new ModelSettings("anthropic", "kept-model"));
        Assert.Equal("kept-model", (await pc.Plan(plan).Describe()).Model.Model);
        await org.RemoveUser(pia.AccountId);
        Assert.DoesNotContain(await org.Users(), m => m.AccountId == pia.AccountId);
        await Assert.ThrowsAsync<AccessDeniedException>(() => pc.Plan(plan).Describe());
    }

    [Fact]
    public async Task A_database_failure_inside_a_grain_method_gives_the_caller_one_line_naming_the_grain()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, new FakeTimeProvider(DateTimeOffset.UtcNow));
        await using var anonymous = await silo.ConnectAsync();
        var owner = await anonymous.SignUpAsync(new SignUpRequest($"s{Guid.NewGuid():N}@example.com", "Owner"));
        await using var c = await silo.ConnectAsync(owner.Token);
        var plan = (await c.Org(owner.OrgId).CreatePlan("p")).PlanId;

        await db.ExecAsync("""
            CREATE FUNCTION test_refuse_context() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
            CREATE TRIGGER test_refuse_context BEFORE INSERT OR UPDATE ON plandex_context_items FOR EACH ROW EXECUTE FUNCTION test_refuse_context();
            """);
        // Before the filter: Orleans' CodecNotFoundException ("Could not find a codec for type Npgsql.PostgresException").
        var refused = await Assert.ThrowsAsync<DatabaseFailureException>(() => c.Plan(plan).LoadContext([new ContextUpload("notes.md", "notes")]));
        Assert.Equal($"plan {plan.ToString("N")[..8]}: the database failed (its operator can see why in the silo's log)", refused.Message);
        await db.ExecAsync("DROP TRIGGER test_refuse_context ON plandex_context_items");
        Assert.Empty(await c.Plan(plan).ContextItems());
        Assert.Single(await c.Plan(plan).LoadContext([new ContextUpload("notes.md", "notes")]));
    }

    [Fact]
    public async Task A_database_failure_while_a_grain_activates_gives_the_caller_one_line_and_the_grain_activates_later()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var db = await TestDatabase.CreateAsync();
        SignInResult owner;
        Guid plan;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            owner = await anonymous.SignUpAsync(new SignUpRequest($"s{Guid.NewGuid():N}@example.com", "Owner"));
            await using var c = await first.ConnectAsync(owner.Token);
            plan = (await c.Org(owner.OrgId).CreatePlan("p")).PlanId;
        }

        // A fresh silo (no data key cached) whose reads of the data keys PostgreSQL refuses: the grains the call needs
        // cannot open their state. The failure is in KeyRing, inside the state read, while the grain activates.
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var client = await silo.ConnectAsync(owner.Token);
        await db.ExecAsync("REVOKE SELECT ON plandex_data_keys FROM plandex_app");
        var refused = await Assert.ThrowsAsync<DatabaseFailureException>(() => client.Plan(plan).Describe());
        Console.WriteLine($"[measure] a database failure during an activation reaches the caller as {refused.GetType().Name}: {refused.Message}");
        Assert.Matches(@"^(plan|org|account) [0-9a-f]{8}: its state could not be read: the database failed \(its operator can see why in the silo's log\)$", refused.Message);

        await db.ExecAsync("GRANT SELECT ON plandex_data_keys TO plandex_app");
        Assert.Equal("p", (await client.Plan(plan).Describe()).Name);
    }

    [Fact]
    public async Task A_database_failure_in_a_grains_own_activation_work_gives_the_caller_one_line()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var db = await TestDatabase.CreateAsync();
        var email = $"s{Guid.NewGuid():N}@example.com";
        SignInResult owner;
        await using (var first = await InProcessSilo.StartAsync(db, clock))
        {
            await using var anonymous = await first.ConnectAsync();
            owner = await anonymous.SignUpAsync(new SignUpRequest(email, "Owner"));
        }
        // The account as the first design stored its email (see EmailEpochTests): its activation moves the row, in
        // AccountGrain.OnActivateAsync, outside any grain call and so outside the call filter.
        var legacyKey = RandomNumberGenerator.GetBytes(32);
        await File.WriteAllBytesAsync(Path.Combine(db.KeyDirectory, "email-lookup.key"), legacyKey);
        await Deletion.EmailEpochTests.StoreAsPreEpochAsync(db, legacyKey, owner.AccountId, email);

        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var client = await silo.ConnectAsync(owner.Token);
        await db.ExecAsync("REVOKE SELECT ON plandex_email_index_legacy FROM plandex_app");
        // Before DatabaseFailures.Activating: Orleans' CodecNotFoundException over Npgsql's PostgresException.
        var refused = await Assert.ThrowsAsync<DatabaseFailureException>(() => client.Account(owner.AccountId).WhoAmI());
        Assert.Equal($"account {owner.AccountId.ToString("N")[..8]}: the database failed (its operator can see why in the silo's log)", refused.Message);
        Assert.Contains(silo.Lines, l => l.Contains("permission denied for table plandex_email_index_legacy"));

        await db.ExecAsync("GRANT SELECT ON plandex_email_index_legacy TO plandex_app");
        Assert.Equal(email, (await client.Account(owner.AccountId).WhoAmI()).Email);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index_legacy"));
    }
}
