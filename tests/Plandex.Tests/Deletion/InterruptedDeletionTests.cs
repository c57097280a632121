using Microsoft.Extensions.Time.Testing;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Deletion;

/// <summary>
/// A deletion clears the subject's sealed grain-state row in a second step after its transaction. When that step is
/// lost (simulated here by putting the row back, as it stood before the deletion), the next epoch tick
/// clears it, for plans, accounts and orgs alike; a deletion younger than the sweep's grace is left to its grain, and
/// a row that cannot even be read is reported and retried without stopping the others.
/// </summary>
public sealed class InterruptedDeletionTests
{
    private static readonly DateTimeOffset Start = new(2030, 3, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Grain_state_left_with_ciphertext_by_an_interrupted_deletion_is_cleared_at_the_next_tick()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var anonymous = await silo.ConnectAsync();
        var stayer = await anonymous.SignUpAsync(new SignUpRequest($"s{Guid.NewGuid():N}@example.com", "Stayer"));
        var leaver = await anonymous.SignUpAsync(new SignUpRequest($"l{Guid.NewGuid():N}@example.com", "Leaver"));
        await using var sc = await silo.ConnectAsync(stayer.Token);
        await using var lc = await silo.ConnectAsync(leaver.Token);
        var kept = (await sc.Org(stayer.OrgId).CreatePlan("kept")).PlanId;
        var late = (await sc.Org(stayer.OrgId).CreatePlan("deleted late in the day")).PlanId;
        var damaged = (await sc.Org(stayer.OrgId).CreatePlan("its row comes back damaged")).PlanId;
        await lc.Org(leaver.OrgId).CreatePlan("leaves with its account");

        // Noon: the leaver deletes the account (its account, its org, its plan); the second step is then "lost".
        var lost = await DeleteAndLoseStateAsync(db, () => lc.Account(leaver.AccountId).DeleteAccount());
        Assert.Equal(3, lost.Count);
        var lostDamaged = await DeleteAndLoseStateAsync(db, () => sc.Plan(damaged).Delete());
        var damagedRow = Assert.Single(lostDamaged).Key.Split('/');
        await db.ExecAsync($"UPDATE orleansstorage SET payloadbinary = '\\xdeadbeef' WHERE graintypestring = '{damagedRow[0]}' AND grainidn0 = {damagedRow[1]} AND grainidn1 = {damagedRow[2]}");
        // 23:30: a plan deletion whose second step is lost too, half an hour before the tick (inside the grace).
        clock.SetUtcNow(Start.Date.AddHours(23.5));
        var lostLate = await DeleteAndLoseStateAsync(db, () => sc.Plan(late).Delete());
        Assert.Single(lostLate);
        var liveBefore = await ContentRowsAsync(db);

        await silo.SetNowAsync(new DateTimeOffset(Start.Date.AddDays(1).AddMinutes(2), TimeSpan.Zero));
        await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= 1, TimeSpan.FromSeconds(30), () => "no tick:\n" + string.Join('\n', silo.Lines.TakeLast(20)));
        var after = await ContentRowsAsync(db);
        Assert.Empty(after.Keys.Intersect(lost.Keys));                 // swept
        Assert.Equal(lostLate.Keys, after.Keys.Intersect(lostLate.Keys)); // 32 minutes old: left alone
        // Nothing else touched (the retention grain's own state row appeared with the tick).
        Assert.Equal(liveBefore.Keys.Except(lost.Keys).Order(), after.Keys.Where(k => !k.Contains("retention")).Order());
        Assert.Contains(silo.Lines, l => l.StartsWith("Warning: ") && l.Contains("cleared 3 grain states"));
        Assert.Contains(silo.Lines, l => l.StartsWith("Warning: ") && l.Contains("the grain state of 1 deletions could not be checked"));

        await silo.AdvanceAsync(TimeSpan.FromDays(1));
        await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= 2, TimeSpan.FromSeconds(30), () => "no second tick");
        Assert.Empty((await ContentRowsAsync(db)).Keys.Intersect(lostLate.Keys));
        Assert.Contains(silo.Lines, l => l.Contains("cleared 1 grain states"));
        // Each receipt is checked once: all but the damaged one are marked, and the ticks cleared 3 + 1 rows, no more.
        Assert.Equal([damaged], await UncheckedAsync(db));
        Assert.Equal(2, silo.Lines.Count(l => l.Contains("could not be checked")));
        Assert.Equal(2, silo.Lines.Count(l => l.Contains("grain states that deletions had left")));
        // The living keep theirs.
        Assert.Equal("kept", (await sc.Plan(kept).Describe()).Name);
        Assert.Equal(stayer.AccountId, (await sc.Account(stayer.AccountId).WhoAmI()).AccountId);
    }

    private static async Task<IReadOnlyList<Guid>> UncheckedAsync(TestDatabase db)
    {
        await using var conn = new Npgsql.NpgsqlConnection(db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand("SELECT subject_id FROM plandex_deletion_receipts WHERE state_checked_at IS NULL", conn);
        var ids = new List<Guid>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) ids.Add(r.GetGuid(0));
        return ids;
    }

    /// <summary>Runs a deletion, then puts back the grain-state rows it cleared (deleted), as they were; returns them.</summary>
    private static async Task<IReadOnlyDictionary<string, string>> DeleteAndLoseStateAsync(TestDatabase db, Func<Task> delete)
    {
        var before = await ContentRowsAsync(db);
        await delete();
        var after = await ContentRowsAsync(db);
        var cleared = before.Where(r => !after.ContainsKey(r.Key)).ToDictionary();
        foreach (var insert in cleared.Values) await db.ExecAsync(insert);
        Assert.Equal(before.Count, (await ContentRowsAsync(db)).Count);
        return cleared;
    }

    /// <summary>Grain-state rows holding content: each row's identity, and an INSERT that would put it back whole.</summary>
    internal static async Task<Dictionary<string, string>> ContentRowsAsync(TestDatabase db)
    {
        var rows = new Dictionary<string, string>();
        await using var conn = new Npgsql.NpgsqlConnection(db.AdminConnectionString);
        await conn.OpenAsync();
        await using var cmd = new Npgsql.NpgsqlCommand(
            """
            SELECT concat_ws('/', graintypestring, grainidn0, grainidn1, grainidextensionstring),
                   format('INSERT INTO orleansstorage VALUES (%s, %s, %s, %s, %L, %L, %L, %L::bytea, %L, %s)', grainidhash, grainidn0, grainidn1,
                          graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version)
              FROM orleansstorage WHERE payloadbinary IS NOT NULL
            """, conn);
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) rows[r.GetString(0)] = r.GetString(1);
        return rows;
    }
}
