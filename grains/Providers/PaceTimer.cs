using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Plandex.Grains.Providers;

/// <summary>
/// The wait between two batches of one paced read loop, re-armed for every window: one timer and one cancellation
/// registration for the whole stream. (A <c>Task.Delay</c> per batch created a timer, a promise and a registration
/// each time: at 1,000 streams, an eighth of the silo's allocations and a timer queue of thousands to scan.)
/// One wait at a time; the awaiting code resumes in its own context (the session's grain scheduler).
/// </summary>
internal sealed class PaceTimer : IValueTaskSource, IDisposable
{
    private ManualResetValueTaskSourceCore<bool> _core;
    private readonly Timer _timer;
    private readonly CancellationTokenRegistration _cancelled;
    private readonly CancellationToken _ct;
    private long _dueAt;   // timestamp the current wait ends at
    private int _waiting;  // 1 while a wait is armed; whoever resets it to 0 completes the wait

    public PaceTimer(CancellationToken ct)
    {
        _ct = ct;
        _timer = new Timer(static s => ((PaceTimer)s!).Fire(), this, Timeout.Infinite, Timeout.Infinite);
        _cancelled = ct.UnsafeRegister(static s => ((PaceTimer)s!).Cancel(), this);
    }

    public ValueTask WaitAsync(TimeSpan delay)
    {
        _ct.ThrowIfCancellationRequested();
        _core.Reset();
        _dueAt = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        Volatile.Write(ref _waiting, 1); // one wait at a time: the previous one ended before this is armed
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
        if (_ct.IsCancellationRequested) Cancel(); // cancelled between the check and the arming
        return new ValueTask(this, _core.Version);
    }

    private void Fire()
    {
        // .NET timers run on a coarse clock and can fire a few ms early: then wait out the rest, never end early.
        var left = Volatile.Read(ref _dueAt) - Stopwatch.GetTimestamp();
        if (left > 0)
        {
            if (Volatile.Read(ref _waiting) == 0) return; // cancelled meanwhile: nothing to wait for
            var rest = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, left * TimeSpan.TicksPerSecond / Stopwatch.Frequency));
            try { _timer.Change(rest, Timeout.InfiniteTimeSpan); }
            catch (ObjectDisposedException) { /* the read loop ended (cancelled) and disposed the timer meanwhile */ }
            return;
        }
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) == 1) _core.SetResult(true);
    }

    private void Cancel()
    {
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) == 1) _core.SetException(new OperationCanceledException(_ct));
    }

    public void GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    public void Dispose()
    {
        _cancelled.Dispose();
        _timer.Dispose();
    }
}
