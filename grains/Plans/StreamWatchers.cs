using Plandex.GrainInterfaces;

namespace Plandex.Grains.Plans;

/// <summary>
/// The clients a plan pushes its stream's events to (<see cref="IStreamObserver"/>), each on a lease its client
/// renews. Pushing costs one one-way message per batch per watcher, where a pulled watch cost a request and a
/// response (and an authorization check) per batch. Volatile: not persisted; gone on deactivation (a client then
/// hears NotSubscribed at its next renewal and subscribes again).
/// </summary>
internal sealed class StreamWatchers(TimeProvider time, TimeSpan lease, int maxWatchers)
{
    // Replays go out in messages of at most this many events.
    private const int ReplayBatch = 256;

    private sealed class Watcher(IStreamObserver observer, Guid account, Guid streamId, long sent, long renewedAt)
    {
        public IStreamObserver Observer { get; } = observer;
        public Guid Account { get; } = account;
        public Guid StreamId { get; } = streamId;
        public long Sent = sent;              // last sequence number pushed
        public long SentAtRenewal = sent;     // Sent at the previous renewal: the client must have it by the next one
        public long RenewedAt = renewedAt;
    }

    private readonly Dictionary<GrainId, Watcher> _watchers = [];

    public TimeSpan Lease => lease;

    /// <summary>Adds (or replaces) a subscription; events after <paramref name="afterSeq"/> go at the next <see cref="Publish"/>.</summary>
    public void Add(IStreamObserver observer, Guid account, Guid streamId, long afterSeq)
    {
        var id = observer.GetGrainId();
        if (!_watchers.ContainsKey(id) && _watchers.Count >= maxWatchers)
        {
            DropExpired(time.GetTimestamp());
            if (_watchers.Count >= maxWatchers)
                throw new InvalidRequestException($"this plan already has {maxWatchers} watchers: stop one and watch again");
        }
        _watchers[id] = new Watcher(observer, account, streamId, afterSeq, time.GetTimestamp());
    }

    /// <summary>
    /// Extends the caller's own subscription; pushes again what it should have had by now and has not. Null when
    /// there is no such subscription (or it is someone else's).
    /// </summary>
    public Guid? Renew(IStreamObserver observer, Guid account, long seenSeq, StreamLog? log)
    {
        var id = observer.GetGrainId();
        if (!_watchers.TryGetValue(id, out var w) || w.Account != account) return null;
        if (time.GetElapsedTime(w.RenewedAt) > lease) { _watchers.Remove(id); return null; }
        w.RenewedAt = time.GetTimestamp();
        // Events pushed before the previous renewal had a whole interval to arrive: missing ones were lost (a
        // gateway changed, a connection dropped). Push them again; the client drops what it already has.
        if (log is not null && log.StreamId == w.StreamId && seenSeq < w.SentAtRenewal && seenSeq >= 0)
            w.Sent = Math.Min(w.Sent, seenSeq);
        w.SentAtRenewal = w.Sent;
        if (log is not null) Publish(log);
        return w.StreamId;
    }

    public void Remove(IStreamObserver observer, Guid account)
    {
        var id = observer.GetGrainId();
        if (_watchers.TryGetValue(id, out var w) && w.Account == account) _watchers.Remove(id);
    }

    /// <summary>Pushes what each watcher of this log's stream has not had yet. Called after every event added.</summary>
    public void Publish(StreamLog log)
    {
        if (_watchers.Count == 0) return;
        var last = log.LastSeq;
        var now = time.GetTimestamp();
        StreamEvent[]? latest = null; // the newest event alone, shared by every watcher that is up to date
        List<GrainId>? done = null;
        foreach (var (id, w) in _watchers)
        {
            if (w.StreamId != log.StreamId) continue;
            if (time.GetElapsedTime(w.RenewedAt, now) > lease) { (done ??= []).Add(id); continue; }
            if (w.Sent >= last) continue;
            if (w.Sent == last - 1) Push(w.Observer, latest ??= [log[last]]);
            else
            {
                if (w.Sent < 0 || w.Sent > last) w.Sent = 0;
                for (var from = w.Sent + 1; from <= last; from += ReplayBatch)
                {
                    var batch = new StreamEvent[(int)Math.Min(ReplayBatch, last - from + 1)];
                    for (var i = 0; i < batch.Length; i++) batch[i] = log[from + i];
                    Push(w.Observer, batch);
                }
            }
            w.Sent = last;
            if (log.Ended) (done ??= []).Add(id); // the end went out: nothing more will follow
        }
        if (done is not null) foreach (var id in done) _watchers.Remove(id);
    }

    private void DropExpired(long now)
    {
        foreach (var (id, w) in _watchers)
            if (time.GetElapsedTime(w.RenewedAt, now) > lease) _watchers.Remove(id);
    }

    private static void Push(IStreamObserver observer, StreamEvent[] events)
    {
        try
        {
            var sent = PushWithoutCallerContext(observer, events);
            if (!sent.IsCompleted) _ = sent.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            else _ = sent.Exception;
        }
        catch (Exception e) when (e is OrleansException or ObjectDisposedException) { /* the client is gone: its lease runs out */ }
    }

    // The call context of the turn that pushes belongs to whoever called the plan (the session relaying the
    // provider on behalf of the user who told; a subscriber): it must not travel to other clients. An async
    // method restores its caller's context when it returns, so clearing here changes nothing for the plan's turn.
    private static async Task PushWithoutCallerContext(IStreamObserver observer, StreamEvent[] events)
    {
        RequestContext.Clear();
        await observer.OnEvents(events);
    }
}
