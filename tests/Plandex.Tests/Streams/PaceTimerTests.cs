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
}
