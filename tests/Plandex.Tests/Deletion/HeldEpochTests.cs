using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using Plandex.GrainInterfaces;
using Plandex.Grains.Telemetry;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Deletion;

/// <summary>
/// A damaged row must neither stop the retention schedule nor hide that it holds an epoch key past the window: one
/// account's wrapped data key and another's sealed email are damaged, the rotation carries on for everyone else,
/// keeps the epoch they need (data over deadlines), and says so (a warning with the subjects' ids, a counter, the
/// overdue deletion's check). Once an operator restores the damaged key from a backup, and gives up the account whose
/// email no backup has readable (its key row removed by hand, the README's last resort), the next tick catches up.
/// </summary>
public sealed class HeldEpochTests
{
    private static readonly DateTimeOffset Start = new(2030, 3, 4, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Damaged_rows_hold_their_epoch_loudly_without_stopping_the_rotation_and_a_restore_lets_it_go()
    {
        var clock = new FakeTimeProvider(Start);
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var anonymous = await silo.ConnectAsync();
        var emails = Enumerable.Range(0, 4).Select(i => $"held{i}{Guid.NewGuid():N}@example.com").ToArray();
        var healthy = await anonymous.SignUpAsync(new SignUpRequest(emails[0], "Healthy"));
        var badKey = await anonymous.SignUpAsync(new SignUpRequest(emails[1], "BadKey"));
        var badEmail = await anonymous.SignUpAsync(new SignUpRequest(emails[2], "BadEmail"));
        var leaving = await anonymous.SignUpAsync(new SignUpRequest(emails[3], "Leaving"));
        var firstEpoch = (await DataKeys.ReadWrappedAsync(db, badKey.AccountId))!.Value.Epoch;

        await using (var lc = await silo.ConnectAsync(leaving.Token))
            await lc.Account(leaving.AccountId).DeleteAccount(); // purge due on day 7, its key under the first epoch

        // The rows as a backup holds them, then damaged in the live database (one flipped bit each).
        var goodWrapped = (await DataKeys.ReadWrappedAsync(db, badKey.AccountId))!.Value.Wrapped;
        await DataKeys.DamageAsync(db, badKey.AccountId);
        await db.ExecAsync($"UPDATE plandex_email_index SET sealed_email = set_byte(sealed_email, 20, get_byte(sealed_email, 20) # 1) WHERE account_id = '{badEmail.AccountId}'");

        long held = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PlandexMetrics.MeterName && instrument.Name == "plandex.retention.epochs_held") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref held, value));
        listener.Start();

        for (var day = 1; day <= 7; day++)
        {
            await silo.AdvanceAsync(TimeSpan.FromDays(1));
            // Before the change, the first damaged row failed the whole tick: no tick was ever recorded again.
            await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= day, TimeSpan.FromSeconds(30),
                () => $"day {day}: no epoch tick recorded; silo log:\n{string.Join('\n', silo.Lines.TakeLast(30))}");
            var current = DataKeys.EpochFiles(db)[^1];
            // Everyone else's keys moved on; the damaged one stayed where it was.
            Assert.Equal(current, (await DataKeys.ReadWrappedAsync(db, healthy.AccountId))!.Value.Epoch);
            Assert.Equal(current, (await DataKeys.ReadWrappedAsync(db, badKey.OrgId))!.Value.Epoch);
            Assert.Equal(firstEpoch, (await DataKeys.ReadWrappedAsync(db, badKey.AccountId))!.Value.Epoch);
            Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_email_lookup WHERE account_id = '{healthy.AccountId}' AND epoch = {current}"));
            Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_email_lookup WHERE account_id = '{badEmail.AccountId}' AND epoch = {current}"));
            if (day < 7) Assert.DoesNotContain(silo.Lines, l => l.Contains("is past the"));
        }

        // Day 7: the first epoch is past the window, kept, and named, with the two subjects that hold it.
        Assert.Contains(firstEpoch, DataKeys.EpochFiles(db));
        var heldLine = Assert.Single(silo.Lines.Where(l => l.Contains("is past the")).Distinct());
        Assert.StartsWith("Warning: ", heldLine);
        Assert.Contains(DateTimeOffset.FromUnixTimeSeconds(firstEpoch).ToString("u"), heldLine);
        Assert.Contains($"1 data keys still wrapped under it or earlier (one: {badKey.AccountId})", heldLine);
        Assert.Contains($"1 accounts with no email lookup row after it (one: {badEmail.AccountId})", heldLine);
        Assert.Contains(silo.Lines, l => l.StartsWith("Warning: ") && l.Contains("1 data keys could not be unwrapped") && l.Contains("1 account emails could not be opened"));
        Assert.True(Interlocked.Read(ref held) >= 1, "plandex.retention.epochs_held did not count the hold");
        // The deletion due at noon on day 7 is past due and unpurged: its hourly check says so when it runs.
        await Poll.UntilAsync(() => Task.FromResult(silo.Lines.Any(l => l.StartsWith("Warning: ") && l.Contains("past their purge time"))),
            TimeSpan.FromSeconds(30), () => "no overdue warning from the backup-expiry check:\n" + string.Join('\n', silo.Lines.TakeLast(30)));
        Assert.Equal(1L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_deletion_receipts WHERE subject_id = '{leaving.AccountId}' AND purged_at IS NULL"));

        // The operator restores the damaged key from the backup and, for the email no backup has readable, removes
        // that account's key row by hand; the next tick re-wraps the one and no longer waits for the other.
        await db.ExecAsync($"UPDATE plandex_data_keys SET wrapped = '\\x{Convert.ToHexString(goodWrapped)}' WHERE subject_id = '{badKey.AccountId}'");
        await db.ExecAsync($"DELETE FROM plandex_data_keys WHERE subject_id = '{badEmail.AccountId}'");
        var warningsBefore = silo.Lines.Count(l => l.StartsWith("Warning: ") && l.Contains("retention"));
        await silo.AdvanceAsync(TimeSpan.FromDays(1));
        await Poll.UntilAsync(async () => await BackupExpiryTests.EpochTicksAsync(db) >= 8, TimeSpan.FromSeconds(30), () => "day 8: no tick");
        var now = clock.GetUtcNow();
        var epochs = DataKeys.EpochFiles(db);
        Assert.DoesNotContain(firstEpoch, epochs);
        Assert.All(epochs, e => Assert.True(DateTimeOffset.FromUnixTimeSeconds(e) > now - TimeSpan.FromDays(7), $"epoch {e} outlived the window"));
        Assert.Equal(epochs[^1], (await DataKeys.ReadWrappedAsync(db, badKey.AccountId))!.Value.Epoch);
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_deletion_receipts WHERE purged_at IS NULL"));
        Assert.Equal(warningsBefore, silo.Lines.Count(l => l.StartsWith("Warning: ") && l.Contains("retention")));
        await using (var bc = await silo.ConnectAsync(badKey.Token))
            Assert.Equal(emails[1], (await bc.Account(badKey.AccountId).WhoAmI()).Email);

        // Ids and counts only: no email, no stack trace.
        var retention = silo.Lines.Where(l => l.Contains("Retention")).ToList();
        Assert.NotEmpty(retention);
        Assert.DoesNotContain(retention, l => emails.Any(l.Contains) || l.Contains("   at "));
    }
}
