using Plandex.GrainInterfaces;

namespace Plandex.Grains.Plans;

/// <summary>
/// The events of the plan's current (or last) stream, held in memory for watchers: sequence number n is at
/// index n-1. Appending wakes every waiting watcher at once. Not persisted; gone on deactivation (the reply
/// itself is stored in the conversation when the stream ends).
/// </summary>
internal sealed class StreamLog(Guid streamId)
{
    private readonly List<StreamEvent> _events = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Guid StreamId { get; } = streamId;
    public long LastSeq => _events.Count;
    public bool Ended => _events.Count > 0 && _events[^1].IsTerminal;
    public System.Text.StringBuilder Reply { get; } = new();

    public void Add(StreamEventKind kind, string? text = null)
    {
        if (Ended) return;
        _events.Add(new StreamEvent(StreamId, _events.Count + 1, kind, text));
        if (kind == StreamEventKind.Chunk) Reply.Append(text);
        var woken = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        woken.TrySetResult();
    }

    public StreamEvent this[long seq] => _events[(int)seq - 1];

    public Task Changed => _changed.Task;
}
