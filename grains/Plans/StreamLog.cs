using Plandex.GrainInterfaces;

namespace Plandex.Grains.Plans;

/// <summary>
/// The events of the plan's current (or last) stream, held in memory for watchers: sequence number n is at
/// index n-1. Appending wakes every waiting watcher at once and calls <c>added</c> (which pushes the event).
/// Not persisted; gone on deactivation (the reply itself is stored in the conversation when the stream ends).
/// Compact: a chunk's text lives once, in <see cref="Reply"/>; an event is a 16-byte entry (kind, end offset,
/// text only for non-chunk events), and the <see cref="StreamEvent"/> is built when a watcher reads it.
/// (One object + one string per chunk cost ~100 bytes each: ~60 KB per 1,000-token stream, kept until the plan
/// deactivates; this is ~16 KB of entries plus the reply text that is needed anyway.)
/// </summary>
internal sealed class StreamLog(Guid streamId, Action<StreamLog>? added = null)
{
    private readonly record struct Entry(StreamEventKind Kind, int End, string? Text);

    private readonly List<Entry> _events = [];
    // Made only when a pull watcher waits: pushed watches (the usual case) need no signal per event.
    private TaskCompletionSource? _changed;

    public Guid StreamId { get; } = streamId;
    public long LastSeq => _events.Count;
    public bool Ended => _events.Count > 0 && IsTerminal(_events[^1].Kind);
    public System.Text.StringBuilder Reply { get; } = new();

    public void Add(StreamEventKind kind, string? text = null)
    {
        if (Ended) return;
        if (kind == StreamEventKind.Chunk)
        {
            Reply.Append(text);
            _events.Add(new Entry(kind, Reply.Length, null));
        }
        else
        {
            _events.Add(new Entry(kind, Reply.Length, text));
        }
        var woken = _changed;
        _changed = null;
        woken?.TrySetResult();
        added?.Invoke(this);
    }

    public StreamEvent this[long seq]
    {
        get
        {
            var i = (int)seq - 1;
            var e = _events[i];
            if (e.Kind != StreamEventKind.Chunk) return new StreamEvent(StreamId, seq, e.Kind, e.Text);
            var start = i == 0 ? 0 : _events[i - 1].End;
            return new StreamEvent(StreamId, seq, e.Kind, Reply.ToString(start, e.End - start));
        }
    }

    public Task Changed => (_changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    private static bool IsTerminal(StreamEventKind kind) =>
        kind is StreamEventKind.Finished or StreamEventKind.Stopped or StreamEventKind.Error or StreamEventKind.Deleted;
}
