using System.Threading.Channels;
using Plandex.GrainInterfaces;

namespace Plandex.Client.Streams;

/// <summary>
/// The client end of a pushed watch: the plan's one-way pushes land here, in arrival order, for the watch loop to
/// put in sequence. Orleans keeps only a weak reference to an observer: the watch holds this object while it runs.
/// </summary>
internal sealed class StreamReceiver : IStreamObserver
{
    private readonly Channel<StreamEvent[]> _arrived =
        Channel.CreateUnbounded<StreamEvent[]>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<StreamEvent[]> Arrived => _arrived.Reader;

    public Task OnEvents(StreamEvent[] events)
    {
        if (events is { Length: > 0 }) _arrived.Writer.TryWrite(events);
        return Task.CompletedTask;
    }

    // The watch loop's one timer: it wakes the loop when its next renewal is due. Re-armed only when that time
    // moves (once per renewal), not for every batch: a per-wait timeout made and dropped a timer for every batch,
    // a tenth of a busy client's time with a thousand watches.
    private readonly Lock _wakeGate = new();
    private Timer? _wake;        // guarded by _wakeGate
    private DateTime _wakeAt;    // when _wake is armed for; default when it is not; guarded by _wakeGate

    /// <summary>Makes sure the loop waiting on <see cref="Arrived"/> wakes by <paramref name="at"/> (UTC).</summary>
    public void WakeAt(DateTime at)
    {
        lock (_wakeGate)
        {
            if (at == _wakeAt) return;
            _wakeAt = at;
            var due = at - DateTime.UtcNow;
            (_wake ??= new Timer(static s => ((StreamReceiver)s!).Wake(), this, Timeout.Infinite, Timeout.Infinite))
                .Change(due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private void Wake()
    {
        lock (_wakeGate) _wakeAt = default; // fired (perhaps a little early): the loop arms it again if it must wait on
        _arrived.Writer.TryWrite([]);
    }

    public void StopWaking()
    {
        lock (_wakeGate)
        {
            _wake?.Dispose();
            _wake = null;
            _wakeAt = default;
        }
    }
}
