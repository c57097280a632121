using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Plandex.GrainInterfaces;
using Plandex.Grains.Retention;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Deletion;

/// <summary>
/// The retention schedule is a durable (AdoNet) reminder: it keeps ticking across a silo restart, and the
/// restarted silo destroys epoch keys the stopped one created. Real time with 2-second epochs, so it runs alone.
/// </summary>
[Collection(ExclusiveCollection.Name)]
public sealed class RetentionReminderRestartTests
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(2), Window = TimeSpan.FromSeconds(6);

    private static readonly IReadOnlyDictionary<string, string> Fast = new Dictionary<string, string>
    {
        ["Retention:EpochPeriod"] = "00:00:02",
        ["Retention:Window"] = "00:00:06",
        ["Reminders:MinimumPeriod"] = "00:00:01",
    };

    [Fact]
    public async Task Epoch_reminders_survive_a_silo_restart_and_old_epochs_are_destroyed()
    {
        await using var db = await TestDatabase.CreateAsync();
        var first = await SiloProcess.StartAsync(db, "retention-1", Fast);
        SignInResult account;
        try
        {
            await using (var anonymous = await first.ConnectAsync())
                account = await anonymous.SignUpAsync(new SignUpRequest("keeper@example.com", "Keeper"));
            await Poll.UntilAsync(() => Task.FromResult(Ticks(first) >= 2), TimeSpan.FromSeconds(30), () => "no epoch ticks:\n" + first.Log);
        }
        finally
        {
            await first.DisposeAsync(); // graceful stop (Ctrl-C), as an operator's restart
        }
        var leftBehind = DataKeys.EpochFiles(db);
        var ticksBefore = await BackupExpiryTests.EpochTicksAsync(db);
        Assert.NotEmpty(leftBehind);
        Assert.True(ticksBefore >= 2, $"{ticksBefore} ticks recorded");

        await using var second = await SiloProcess.StartAsync(db, "retention-2", Fast);
        var sw = Stopwatch.StartNew();
        // Ticks continue on the new silo (nobody registered anything anew: the reminder came from the database), and
        // every epoch key the first silo left is destroyed once it is older than the window.
        await Poll.UntilAsync(() => Task.FromResult(Ticks(second) >= 2), TimeSpan.FromSeconds(30), () => "no ticks after the restart:\n" + second.Log);
        await Poll.UntilAsync(() => Task.FromResult(!DataKeys.EpochFiles(db).Intersect(leftBehind).Any()), Window + TimeSpan.FromSeconds(20),
            () => $"epochs left by the first silo still there: {string.Join(", ", DataKeys.EpochFiles(db).Intersect(leftBehind))}; now {DateTimeOffset.UtcNow.ToUnixTimeSeconds()}\n{second.Log}");
        Assert.True(await BackupExpiryTests.EpochTicksAsync(db) > ticksBefore, "the tick counter did not move on after the restart");
        Assert.Contains(second.Lines, l => l.Contains("retention epoch") && !l.Contains(" 0 epoch keys destroyed"));

        var now = DateTimeOffset.UtcNow;
        var epochs = DataKeys.EpochFiles(db);
        Console.WriteLine($"[measure] retention restart: {ticksBefore} ticks before, {Ticks(second)} on the new silo in {sw.Elapsed.TotalSeconds:F1} s; " +
                          $"epochs now {string.Join(", ", epochs.Select(e => $"-{(now - DateTimeOffset.FromUnixTimeSeconds(e)).TotalSeconds:F0}s"))}");
        Assert.NotEmpty(epochs);
        // Slack: a tick destroys epochs that started a window ago, and ticks come once per period (plus load).
        Assert.All(epochs, e => Assert.True(now - DateTimeOffset.FromUnixTimeSeconds(e) <= Window + Period + TimeSpan.FromSeconds(3),
            $"epoch {e} is {(now - DateTimeOffset.FromUnixTimeSeconds(e)).TotalSeconds:F0} s old"));

        // Live data survived every rotation: its key was re-wrapped, never lost with an old epoch.
        await using var client = await second.ConnectAsync(account.Token);
        Assert.Equal("keeper@example.com", (await client.Account(account.AccountId).WhoAmI()).Email);
    }

    private static int Ticks(SiloProcess silo) => silo.Lines.Count(l => l.Contains("retention epoch"));
}

/// <summary>A repeated epoch tick (reminders are at-least-once) changes nothing: not the database, not the key store.</summary>
public sealed class RetentionDuplicateTickTests
{
    [Fact]
    public async Task A_duplicated_epoch_tick_changes_nothing()
    {
        // Noon: the reminder's first tick is due at the next midnight plus a minute of slack.
        var clock = new FakeTimeProvider(new DateTimeOffset(2030, 3, 4, 12, 0, 0, TimeSpan.Zero));
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await InProcessSilo.StartAsync(db, clock);
        await using var anonymous = await silo.ConnectAsync();
        await anonymous.SignUpAsync(new SignUpRequest("dup@example.com", "Dup")); // a live data key to re-wrap
        var tick = silo.Grains.GetGrain<IRetentionGrain>(0).AsReference<IRemindable>();

        // Just past the boundary, before the reminder is due: the test delivers the tick itself, twice.
        clock.SetUtcNow(new DateTimeOffset(2030, 3, 5, 0, 0, 1, TimeSpan.Zero));
        var snapshot0 = await db.SnapshotAsync();
        var files0 = DataKeys.EpochFiles(db);
        Assert.Equal(0L, await BackupExpiryTests.EpochTicksAsync(db));

        await tick.ReceiveReminder(RetentionGrain.EpochReminder, default);
        var snapshot1 = await db.SnapshotAsync();
        var files1 = DataKeys.EpochFiles(db);
        // Positive control: the first delivery did its work (new epoch key, keys re-wrapped, state written).
        Assert.Equal(1L, await BackupExpiryTests.EpochTicksAsync(db));
        Assert.NotEqual(snapshot0, snapshot1);
        Assert.Equal(files0.Count + 1, files1.Count);
        Assert.Equal(clock.GetUtcNow().ToUnixTimeSeconds() - 1, files1[^1]);
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_data_keys WHERE epoch <> {files1[^1]}"));

        await tick.ReceiveReminder(RetentionGrain.EpochReminder, default);
        Assert.Equal(snapshot1, await db.SnapshotAsync());
        Assert.Equal(files1, DataKeys.EpochFiles(db));

        // Below the grain's once-per-epoch guard, the rotation itself is idempotent at the same time.
        var rotation = silo.Services.GetRequiredService<EpochRotation>();
        var again = await rotation.RunAsync(clock.GetUtcNow());
        Assert.Equal((0, 0, 0), (again.Rewrapped, again.Destroyed.Count, again.Purged));
        Assert.Equal(snapshot1, await db.SnapshotAsync());
        Assert.Equal(files1, DataKeys.EpochFiles(db));

        // And the reminder service's own tick for this epoch, when it comes, is a duplicate too.
        await silo.AdvanceAsync(TimeSpan.FromMinutes(2));
        await silo.EpochTicksDeliveredAsync(1);
        Assert.Equal(1L, await BackupExpiryTests.EpochTicksAsync(db));
        Assert.Equal(snapshot1, await db.SnapshotAsync());
        Assert.Equal(files1, DataKeys.EpochFiles(db));
    }
}
