using System.Buffers;
using System.Text;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Plans;

/// <summary>
/// The events of the plan's current (or last) stream, held in memory for watchers: sequence number n is at
/// index n-1. Appending wakes every waiting watcher at once and calls <c>added</c> (which pushes the event).
/// Not persisted; gone on deactivation (the reply itself is stored in the conversation when the stream ends).
/// Compact, because every running stream holds one until it ends: a chunk's text lives once (the newest one also as
/// the string it came in, until the next event, for its push), as UTF-8 in fixed
/// 1 KB blocks (never copied to grow, so no promoted garbage either); an event is an 8-byte entry (kind, end
/// offset) in blocks of 128; the rare non-chunk text (an error) sits aside; the <see cref="StreamEvent"/> is built
/// when a watcher reads it. (A StringBuilder reply and 16-byte entries in doubling lists held ~2× the text as
/// UTF-16 plus up to half their capacity unused: ~25 KB for a 1,000-token stream; this is ~9 KB.)
/// </summary>
internal sealed class StreamLog(Guid streamId, Action<StreamLog>? added = null)
{
    private readonly record struct Entry(int End, StreamEventKind Kind);

    private const int TextBlock = 1024;
    private const int EntryBlock = 128;

    // Blocks live as long as the stream (and the plan's activation) does. Allocated as ordinary arrays, each one that
    // fills during a stream survived into generation 1 and was then copied again into generation 2: at 1,500 paced
    // streams they were about half of what every gen0 collection copied. On the pinned-object heap they are never
    // copied (nor marked through: they hold no references); that heap is swept with generation 2, and a freed block
    // is a 1 KB hole the next block fits exactly.
    private static byte[] NewTextBlock() => GC.AllocateArray<byte>(TextBlock, pinned: true);
    private static Entry[] NewEntryBlock() => GC.AllocateArray<Entry>(EntryBlock, pinned: true);
    private readonly List<byte[]> _text = [];          // reply text, UTF-8, TextBlock bytes each
    private int _textLength;
    private readonly List<Entry[]> _entries = [];       // EntryBlock entries each
    private int _count;
    private Dictionary<int, string>? _eventTexts;        // text of non-chunk events, by index
    // Made only when a pull watcher waits: pushed watches (the usual case) need no signal per event.
    private TaskCompletionSource? _changed;
    // The newest chunk's text as it was added, until the next event: the push of each new batch reads it back
    // without decoding the UTF-8 again (one string per batch instead of two).
    private string? _latestText;

    public Guid StreamId { get; } = streamId;
    public long LastSeq => _count;
    public bool Ended => _count > 0 && IsTerminal(EntryAt(_count - 1).Kind);

    /// <summary>True when the stream has reply text.</summary>
    public bool HasReply => _textLength > 0;

    /// <summary>The whole reply so far.</summary>
    public string ReplyText() => Text(0, _textLength);

    public void Add(StreamEventKind kind, string? text = null)
    {
        if (Ended) return;
        _latestText = kind == StreamEventKind.Chunk ? text ?? "" : null;
        if (kind == StreamEventKind.Chunk) AppendText(text ?? "");
        else if (text is not null) (_eventTexts ??= [])[_count] = text;
        if (_count % EntryBlock == 0) _entries.Add(NewEntryBlock());
        _entries[_count / EntryBlock][_count % EntryBlock] = new Entry(_textLength, kind);
        _count++;
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
            var e = EntryAt(i);
            if (e.Kind != StreamEventKind.Chunk)
                return new StreamEvent(StreamId, seq, e.Kind, _eventTexts is not null && _eventTexts.TryGetValue(i, out var t) ? t : null);
            if (seq == _count && _latestText is { } latest) return new StreamEvent(StreamId, seq, e.Kind, latest);
            var start = i == 0 ? 0 : EntryAt(i - 1).End;
            return new StreamEvent(StreamId, seq, e.Kind, Text(start, e.End));
        }
    }

    public Task Changed => (_changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    private Entry EntryAt(int i) => i >= 0 && i < _count ? _entries[i / EntryBlock][i % EntryBlock] : throw new ArgumentOutOfRangeException(nameof(i));

    private void AppendText(string text)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes == 0) return;
        var free = _text.Count * TextBlock - _textLength;
        if (bytes <= free)
        {
            Encoding.UTF8.GetBytes(text, _text[^1].AsSpan(TextBlock - free));
            _textLength += bytes;
            return;
        }
        var rented = ArrayPool<byte>.Shared.Rent(bytes);
        try
        {
            Encoding.UTF8.GetBytes(text, rented);
            Write(rented.AsSpan(0, bytes));
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        while (bytes.Length > 0)
        {
            var at = _textLength % TextBlock;
            if (at == 0 && _textLength == _text.Count * TextBlock) _text.Add(NewTextBlock());
            var n = Math.Min(bytes.Length, TextBlock - at);
            bytes[..n].CopyTo(_text[_textLength / TextBlock].AsSpan(at));
            _textLength += n;
            bytes = bytes[n..];
        }
    }

    // Offsets always fall between two appended strings, so a range never splits a character.
    private string Text(int start, int end)
    {
        var length = end - start;
        if (length <= 0) return "";
        var first = start / TextBlock;
        if (first == (end - 1) / TextBlock) return Encoding.UTF8.GetString(_text[first], start % TextBlock, length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            for (int pos = start, done = 0; pos < end;)
            {
                var at = pos % TextBlock;
                var n = Math.Min(end - pos, TextBlock - at);
                _text[pos / TextBlock].AsSpan(at, n).CopyTo(rented.AsSpan(done));
                pos += n;
                done += n;
            }
            return Encoding.UTF8.GetString(rented, 0, length);
        }
        finally { ArrayPool<byte>.Shared.Return(rented); }
    }

    private static bool IsTerminal(StreamEventKind kind) =>
        kind is StreamEventKind.Finished or StreamEventKind.Stopped or StreamEventKind.Error or StreamEventKind.Deleted;
}
