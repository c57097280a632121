using System.Text;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Streams;

/// <summary>
/// The plan's end of a stream whose session runs on the plan's own silo. The session posts each batch here, and the
/// batch is added to the plan's log by a work item on the plan's activation (its scheduler: one thread at a time
/// with the plan's other work) instead of an <c>Append</c> message and its response, which cost about a quarter of
/// the silo's CPU at 1,000 streams. Batches posted while one is waiting merge into it, and deliveries are at
/// least <see cref="MinInterval"/> apart: a provider faster than the relay is handed on in a few large batches, not
/// one per socket read (each batch is a push to every watcher). Holds reply text only: no key, no caller identity.
/// A session on another silo never sees this and uses <c>Append</c> (whose round trip merges batches the same way).
/// </summary>
internal sealed class PlanInbox(IGrainContext plan, Guid streamId, Func<Guid, string, bool> add)
{
    /// <summary>
    /// Set by the session before it posts: half its shortest batch window, so a paced stream's batches (at least a
    /// window apart) are never held back; only a provider faster than the relay is.
    /// </summary>
    public TimeSpan MinInterval { get; set; }

    private readonly Lock _gate = new();
    // What waits for the next delivery: one batch as it came (the usual case: nothing to merge, so no copy), or
    // several merged. Guarded by _gate.
    private string? _single;
    private readonly StringBuilder _merged = new();
    private bool _queued;                            // a delivery is queued on the plan; guarded by _gate
    private bool _open;                              // the plan's log for this stream exists; guarded by _gate
    private bool _closed;                            // the plan takes nothing more; guarded by _gate
    private TaskCompletionSource? _drained;          // guarded by _gate
    private long _lastDelivery;                      // timestamp; guarded by _gate
    private Timer? _later;                           // queues a delivery held back by MinInterval; guarded by _gate
    private bool _held;                              // the queued delivery waits for _later; guarded by _gate

    public Guid StreamId => streamId;

    /// <summary>Hands a batch to the plan. Throws when the plan no longer takes this stream's batches.</summary>
    public void Post(string text)
    {
        lock (_gate)
        {
            if (_closed) throw Refused();
            if (text.Length == 0) return;
            if (_single is null && _merged.Length == 0) _single = text;
            else
            {
                if (_single is not null) { _merged.Append(_single); _single = null; }
                _merged.Append(text);
            }
            if (_queued || !_open) return;
            _queued = true;
            var wait = MinInterval - System.Diagnostics.Stopwatch.GetElapsedTime(_lastDelivery);
            if (wait > TimeSpan.Zero)
            {
                _held = true;
                (_later ??= new Timer(static s => ((PlanInbox)s!).Release(), this, Timeout.Infinite, Timeout.Infinite)).Change(wait, Timeout.InfiniteTimeSpan);
                return;
            }
        }
        Queue();
    }

    private void Queue() => plan.Scheduler.QueueAction(static s => ((PlanInbox)s!).Deliver(), this);

    // The held delivery goes now (its time came, or the stream ended and nothing more will merge into it).
    private void Release()
    {
        lock (_gate)
        {
            if (!_held || _closed) return;
            _held = false;
        }
        Queue();
    }

    /// <summary>Called by the plan, in its own turn, once its log for this stream exists: what waits lands now.</summary>
    public void Open()
    {
        lock (_gate)
        {
            if (_open || _closed) return;
            _open = true;
            if (_queued) return;
            _queued = true;
        }
        Deliver();
    }

    /// <summary>The plan takes nothing more (stream ended, plan deleted or deactivating): later posts throw.</summary>
    public void Close()
    {
        TaskCompletionSource? drained;
        lock (_gate)
        {
            _closed = true;
            _single = null;
            _merged.Clear();
            _later?.Dispose();
            drained = _drained;
            _drained = null;
        }
        drained?.TrySetResult();
    }

    /// <summary>Waits until everything posted has landed in the plan's log; throws if the plan refused it.</summary>
    public async Task DrainAsync()
    {
        Task wait;
        lock (_gate)
        {
            if (_closed) throw Refused();
            if (Empty && !_queued) return;
            wait = (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        Release();
        await wait;
        lock (_gate) if (_closed) throw Refused();
    }

    // Runs on the plan's activation.
    private void Deliver()
    {
        string? text = null;
        lock (_gate)
        {
            _queued = false;
            if (!_closed && !Empty)
            {
                _lastDelivery = System.Diagnostics.Stopwatch.GetTimestamp();
                text = _single ?? _merged.ToString();
                _single = null;
                _merged.Clear();
            }
        }
        if (text is not null && !add(streamId, text)) { Close(); return; }
        TaskCompletionSource? drained = null;
        lock (_gate)
        {
            if (Empty && !_queued) { drained = _drained; _drained = null; }
        }
        drained?.TrySetResult();
    }

    private bool Empty => _single is null && _merged.Length == 0; // under _gate

    private static InvalidRequestException Refused() => new("this stream is no longer the plan's active stream");
}
