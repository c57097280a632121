using System.Buffers;
using System.Diagnostics;

namespace Plandex.Grains.Providers;

/// <summary>
/// One clock for every paced read loop in the process: a ring of time slots turned by a single periodic timer, so a
/// thousand streams re-arming their waits every window do not each keep a <see cref="Timer"/> in .NET's timer queue.
/// (That queue walks its whole list of short timers every time it fires, which at 1,000 paced streams was about a
/// twentieth of the silo's CPU.) A wait ends on the first tick at or after its due time, never before it; ticks are
/// <see cref="Tick"/> apart, so a wait may run up to one tick long. The timer runs only while waits are pending.
/// </summary>
internal sealed class PaceWheel
{
    public static PaceWheel Shared { get; } = new(TimeSpan.FromMilliseconds(2));

    private const int SlotCount = 256; // 512 ms ahead at 2 ms; a longer wait goes round again
    private readonly List<(PaceTimer Timer, short Version)>[] _slots = new List<(PaceTimer, short)>[SlotCount];
    private readonly Lock _lock = new();
    private readonly Timer _timer;
    private readonly long _slotTicks; // Stopwatch ticks per slot
    private long _nextSlot;           // the first slot not yet turned (absolute: timestamp / _slotTicks)
    private int _pending;
    private bool _running;

    public PaceWheel(TimeSpan tick)
    {
        Tick = tick;
        _slotTicks = Math.Max(1, (long)(tick.TotalSeconds * Stopwatch.Frequency));
        for (var i = 0; i < SlotCount; i++) _slots[i] = [];
        _nextSlot = Stopwatch.GetTimestamp() / _slotTicks + 1;
        _timer = new Timer(static s => ((PaceWheel)s!).Turn(), this, Timeout.Infinite, Timeout.Infinite);
    }

    public TimeSpan Tick { get; }

    /// <summary>Waits pending on the wheel (for tests and diagnostics).</summary>
    public int Pending { get { lock (_lock) return _pending; } }

    /// <summary>Calls <paramref name="timer"/>'s <c>Elapsed(version)</c> on the first tick at or after <paramref name="dueAt"/>.</summary>
    public void Add(PaceTimer timer, short version, long dueAt)
    {
        lock (_lock)
        {
            // Idle, nothing pending: start the ring at now instead of turning the slots it stood still for.
            if (!_running) _nextSlot = Stopwatch.GetTimestamp() / _slotTicks + 1;
            // The slot after the one dueAt falls in: every timestamp in it is past dueAt.
            var slot = Math.Max(dueAt / _slotTicks + 1, _nextSlot);
            if (slot - _nextSlot >= SlotCount) slot = _nextSlot + SlotCount - 1; // looked at again when its slot turns
            _slots[slot % SlotCount].Add((timer, version));
            _pending++;
            if (!_running)
            {
                _running = true;
                _timer.Change(Tick, Tick);
            }
        }
    }

    private void Turn()
    {
        var now = Stopwatch.GetTimestamp();
        (PaceTimer Timer, short Version)[]? due = null;
        var count = 0;
        lock (_lock)
        {
            var last = now / _slotTicks;
            for (var turned = 0; _nextSlot <= last && turned < SlotCount; turned++, _nextSlot++)
            {
                var slot = _slots[_nextSlot % SlotCount];
                if (slot.Count == 0) continue;
                if (due is null || due.Length - count < slot.Count)
                {
                    var bigger = ArrayPool<(PaceTimer, short)>.Shared.Rent(Math.Max(64, (count + slot.Count) * 2));
                    if (due is not null) { due.AsSpan(0, count).CopyTo(bigger); ArrayPool<(PaceTimer, short)>.Shared.Return(due, clearArray: true); }
                    due = bigger;
                }
                slot.CopyTo(due, count); // the slot keeps its list and capacity: turning allocates nothing
                count += slot.Count;
                _pending -= slot.Count;
                slot.Clear();
            }
            if (_nextSlot <= last) _nextSlot = last + 1; // the process stood still for a whole round: all of it was turned
            if (_pending == 0 && _running)
            {
                _running = false;
                _timer.Change(Timeout.Infinite, Timeout.Infinite);
            }
        }
        if (due is null) return;
        // Outside the lock: ending a wait queues its loop's continuation; a wait not yet due is added again.
        // (Ticks may overlap when one runs long; each works on the entries it took.)
        for (var i = 0; i < count; i++) due[i].Timer.Elapsed(due[i].Version, now);
        ArrayPool<(PaceTimer, short)>.Shared.Return(due, clearArray: true);
    }
}
