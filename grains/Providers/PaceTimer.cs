using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Plandex.Grains.Providers;

/// <summary>
/// The wait between two batches of one paced read loop, re-armed for every window: one cancellation registration for
/// the whole stream, and a place on the process's <see cref="PaceWheel"/> instead of a timer of its own. (A
/// <c>Task.Delay</c> per batch created a timer, a promise and a registration each time; a <see cref="Timer"/> per
/// stream still left .NET's timer queue a thousand short timers to walk on every firing.)
/// One wait at a time; the awaiting code resumes in its own context (the session's grain scheduler).
/// </summary>
internal sealed class PaceTimer : IValueTaskSource, IDisposable
{
    private ManualResetValueTaskSourceCore<bool> _core;
    private readonly PaceWheel _wheel;
    private readonly CancellationTokenRegistration _cancelled;
    private readonly CancellationToken _ct;
    private long _dueAt;   // timestamp the current wait ends at
    private int _waiting;  // 1 while a wait is armed; whoever resets it to 0 completes the wait

    public PaceTimer(CancellationToken ct, PaceWheel? wheel = null)
    {
        _ct = ct;
        _wheel = wheel ?? PaceWheel.Shared;
        _cancelled = ct.UnsafeRegister(static s => ((PaceTimer)s!).Cancel(), this);
    }

    public ValueTask WaitAsync(TimeSpan delay)
    {
        _ct.ThrowIfCancellationRequested();
        _core.Reset();
        var version = _core.Version;
        _dueAt = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        Volatile.Write(ref _waiting, 1); // one wait at a time: the previous one ended before this is armed
        _wheel.Add(this, version, _dueAt);
        if (_ct.IsCancellationRequested) Cancel(); // cancelled between the check and the arming
        return new ValueTask(this, version);
    }

    /// <summary>The wheel's tick for the wait <paramref name="version"/>; a stale one (cancelled, or an older wait) is ignored.</summary>
    internal void Elapsed(short version, long now)
    {
        if (version != _core.Version || Volatile.Read(ref _waiting) == 0) return;
        var dueAt = Volatile.Read(ref _dueAt);
        if (now < dueAt) { _wheel.Add(this, version, dueAt); return; } // longer than one round of the wheel
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

    // A pending place on the wheel (only after a cancelled wait) is dropped as stale when its slot turns, at most one
    // round (512 ms) later; it holds no key, only the read loop's reply buffers.
    public void Dispose() => _cancelled.Dispose();
}
