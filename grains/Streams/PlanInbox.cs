using System.Text;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Streams;

/// <summary>
/// The plan's end of a stream whose session runs on the plan's own silo. The session posts each batch here, and the
/// batch is added to the plan's log by a work item on the plan's activation (its scheduler: one thread at a time
/// with the plan's other work) instead of an <c>Append</c> message and its response, which cost about a quarter of
/// the silo's CPU at 1,000 streams. Batches posted while one is waiting merge into it. Holds reply text only: no
/// key, no caller identity. A session on another silo never sees this and uses <c>Append</c>.
/// </summary>
internal sealed class PlanInbox(IGrainContext plan, Guid streamId, Func<Guid, string, bool> add)
{
    private readonly Lock _gate = new();
    private readonly StringBuilder _waiting = new(); // guarded by _gate
    private bool _queued;                            // a delivery is queued on the plan; guarded by _gate
    private bool _open;                              // the plan's log for this stream exists; guarded by _gate
    private bool _closed;                            // the plan takes nothing more; guarded by _gate
    private TaskCompletionSource? _drained;          // guarded by _gate

    public Guid StreamId => streamId;

    /// <summary>Hands a batch to the plan. Throws when the plan no longer takes this stream's batches.</summary>
    public void Post(string text)
    {
        lock (_gate)
        {
            if (_closed) throw Refused();
            _waiting.Append(text);
            if (_queued || !_open) return;
            _queued = true;
        }
        plan.Scheduler.QueueAction(static s => ((PlanInbox)s!).Deliver(), this);
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
            _waiting.Clear();
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
            if (_waiting.Length == 0 && !_queued) return;
            wait = (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
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
            if (!_closed && _waiting.Length > 0)
            {
                text = _waiting.ToString();
                _waiting.Clear();
            }
        }
        if (text is not null && !add(streamId, text)) { Close(); return; }
        TaskCompletionSource? drained = null;
        lock (_gate)
        {
            if (_waiting.Length == 0 && !_queued) { drained = _drained; _drained = null; }
        }
        drained?.TrySetResult();
    }

    private static InvalidRequestException Refused() => new("this stream is no longer the plan's active stream");
}
