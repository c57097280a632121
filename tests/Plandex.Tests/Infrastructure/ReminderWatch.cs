using System.Diagnostics;
using Orleans.Reminders.Diagnostics;

namespace Plandex.Tests.Infrastructure;

/// <summary>
/// Follows one silo's local reminder timers through Orleans' reminder diagnostic events (public since 10.x), so a
/// test moves a fake clock only once the reminder it expects is waiting on that clock. Orleans computes a reminder's
/// next tick from "now" whenever it arms the wait (after the table load at start, and again after every tick): a jump
/// made before that skips the tick it jumped over, and the test then waits for a tick that never comes. A restarted
/// silo shows it most: until the old silo's membership row is declared dead, part of the ring (and perhaps the
/// reminder) is still the old silo's, and the new one loads the reminder only after that.
/// </summary>
internal sealed class ReminderWatch : IObserver<ReminderEvents.ReminderEvent>, IDisposable
{
    private readonly int _siloPort;
    private readonly IDisposable _subscription;
    private readonly Lock _lock = new();
    // Per reminder name: whether its next tick is armed, and how many ticks it has completed here.
    private readonly Dictionary<string, (bool Armed, int Completed)> _reminders = new(StringComparer.Ordinal);

    public ReminderWatch(int siloPort)
    {
        _siloPort = siloPort;
        _subscription = ReminderEvents.AllEvents.Subscribe(this);
    }

    /// <summary>Waits (real time) until <paramref name="reminder"/> is armed on this silo; fails naming it otherwise.</summary>
    public Task ArmedAsync(string reminder, TimeSpan within) =>
        UntilAsync(() => _reminders.GetValueOrDefault(reminder).Armed, within, $"reminder '{reminder}' was not armed on this silo");

    /// <summary>Waits (real time) until <paramref name="reminder"/> has completed <paramref name="count"/> ticks here.</summary>
    public Task CompletedAsync(string reminder, int count, TimeSpan within) =>
        UntilAsync(() => _reminders.GetValueOrDefault(reminder).Completed >= count, within,
            $"reminder '{reminder}' did not complete {count} ticks on this silo");

    private async Task UntilAsync(Func<bool> done, TimeSpan within, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            lock (_lock) if (done()) return;
            if (sw.Elapsed > within) throw new TimeoutException($"not within {within}: {what}");
            await Task.Delay(20);
        }
    }

    public void OnNext(ReminderEvents.ReminderEvent value)
    {
        if (value.SiloAddress?.Endpoint.Port != _siloPort) return; // another silo in this test process
        lock (_lock)
        {
            var (armed, completed) = _reminders.GetValueOrDefault(value.ReminderName);
            _reminders[value.ReminderName] = value switch
            {
                ReminderEvents.LocalReminderTickWaitArmed => (true, completed),
                ReminderEvents.TickFiring or ReminderEvents.LocalReminderStopped or ReminderEvents.LocalReminderScheduleChanged => (false, completed),
                ReminderEvents.TickCompleted => (armed, completed + 1),
                _ => (armed, completed),
            };
        }
    }

    public void OnError(Exception error) { }
    public void OnCompleted() { }
    public void Dispose() => _subscription.Dispose();
}
