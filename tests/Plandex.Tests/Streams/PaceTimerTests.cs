using System.Diagnostics;
using Plandex.Grains.Providers;

namespace Plandex.Tests.Streams;

/// <summary>The read loop's reusable wait: never shorter than asked, re-armable, and cut short by cancellation.</summary>
public sealed class PaceTimerTests
{
    [Fact]
    public async Task Each_wait_lasts_at_least_its_delay_and_the_timer_can_be_rearmed_many_times()
    {
        using var cts = new CancellationTokenSource();
        using var pacer = new PaceTimer(cts.Token);
        // .NET timers run on a coarse clock and may fire early: the wait must still not end before its time.
        for (var i = 0; i < 15; i++)
        {
            var delay = TimeSpan.FromMilliseconds(20 + i % 3 * 10);
            var sw = Stopwatch.StartNew();
            await pacer.WaitAsync(delay).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            Assert.True(sw.Elapsed >= delay, $"wait {i} of {delay.TotalMilliseconds} ms ended after {sw.Elapsed.TotalMilliseconds:F1} ms");
        }
    }

    [Fact]
    public async Task Cancellation_ends_a_pending_wait_at_once_and_refuses_the_next()
    {
        using var cts = new CancellationTokenSource();
        using var pacer = new PaceTimer(cts.Token);
        var sw = Stopwatch.StartNew();
        var wait = pacer.WaitAsync(TimeSpan.FromSeconds(30)).AsTask();
        await Task.Delay(20);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
        Assert.Throws<OperationCanceledException>(() => { _ = pacer.WaitAsync(TimeSpan.FromMilliseconds(5)); });
    }

    [Fact]
    public async Task Many_waits_on_one_wheel_each_end_no_sooner_than_asked_and_the_wheel_stops_when_none_is_left()
    {
        var wheel = new PaceWheel(TimeSpan.FromMilliseconds(2));
        using var cts = new CancellationTokenSource();
        var pacers = Enumerable.Range(0, 300).Select(_ => new PaceTimer(cts.Token, wheel)).ToArray();
        var rounds = pacers.Select((p, i) => Task.Run(async () =>
        {
            var worst = TimeSpan.MaxValue;
            for (var round = 0; round < 5; round++)
            {
                var delay = TimeSpan.FromMilliseconds(3 + (i * 7 + round * 13) % 60);
                var sw = Stopwatch.StartNew();
                await p.WaitAsync(delay);
                var early = sw.Elapsed - delay;
                if (early < worst) worst = early;
            }
            return worst;
        })).ToArray();
        var margins = await Task.WhenAll(rounds).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.All(margins, m => Assert.True(m >= TimeSpan.Zero, $"a wait ended {-m.TotalMilliseconds:F2} ms early"));
        Assert.Equal(0, wheel.Pending);
        foreach (var p in pacers) p.Dispose();
    }

    [Fact]
    public async Task A_wait_longer_than_one_round_of_the_wheel_goes_round_again_and_ends_on_time()
    {
        var wheel = new PaceWheel(TimeSpan.FromMilliseconds(1)); // 256 slots: one round is 256 ms
        using var cts = new CancellationTokenSource();
        using var pacer = new PaceTimer(cts.Token, wheel);
        var sw = Stopwatch.StartNew();
        await pacer.WaitAsync(TimeSpan.FromMilliseconds(600)).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.InRange(sw.Elapsed.TotalMilliseconds, 600, 1_500);
    }
}
