using System.Runtime.CompilerServices;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;

namespace Plandex.Client.Streams;

/// <summary>
/// The client side of a <c>tell</c>: reserve the stream, seal the key to its session, start it, and watch.
/// Watching survives a lost silo or gateway: it re-attaches from the last sequence number it saw, and treats
/// <see cref="SilenceLimit"/> without any event (heartbeats come every few seconds) as a dead connection.
/// </summary>
public sealed class PlanStreams(PlandexClient client)
{
    public TimeSpan SilenceLimit { get; init; } = TimeSpan.FromSeconds(3);
    public TimeSpan GiveUpAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Starts a stream. The key comes from <paramref name="key"/> when given (the caller wipes it), else from the
    /// provider's environment variable.
    /// </summary>
    public async Task<Guid> TellAsync(Guid planId, string prompt, string? baseUrlOverride = null, byte[]? key = null)
    {
        var plan = client.Plan(planId);
        var ticket = await plan.BeginTell();
        await plan.Tell(ticket.StreamId, prompt, Seal(ticket, baseUrlOverride, key));
        return ticket.StreamId;
    }

    /// <summary>
    /// <see cref="TellAsync"/> and <see cref="WatchAsync"/> in one, faster to the first token: the watch subscribes as
    /// soon as the stream is reserved, so its events are pushed from the start without a round trip after Tell.
    /// Errors of the tell itself are thrown here, as by TellAsync; the returned events are those of WatchAsync.
    /// </summary>
    public async Task<IAsyncEnumerable<StreamEvent>> TellWatchingAsync(Guid planId, string prompt, string? baseUrlOverride = null,
        byte[]? key = null, CancellationToken ct = default)
    {
        var plan = client.Plan(planId);
        var beginning = plan.BeginTell();
        // The watch's observer is registered while BeginTell is on its way, not after its answer.
        var watch = new PushedWatch(client, plan);
        watch.Register();
        StreamTicket ticket;
        try { ticket = await beginning; }
        catch
        {
            await watch.DisposeAsync(unsubscribe: false);
            throw;
        }
        watch.Subscribe(ticket.StreamId, 0); // on its way while the key is sealed
        SealedKey sealedKey;
        try { sealedKey = Seal(ticket, baseUrlOverride, key); }
        catch
        {
            await watch.DisposeAsync(); // no key to seal (or no endpoint): the subscription goes too
            throw;
        }
        return await StartWatchedAsync(plan, watch, ticket.StreamId, prompt, sealedKey, ct);
    }

    /// <summary>
    /// The first half of a tell, for a client that knows a prompt is coming (the CLI while it reads one): reserves the
    /// plan's stream, opens its session and seals the key to it, so the tell itself is one round trip. The key is
    /// taken as by <see cref="TellAsync"/>. See <see cref="PreparedTell"/> for how long it stays good.
    /// </summary>
    public async Task<PreparedTell> PrepareTellAsync(Guid planId, string? baseUrlOverride = null, byte[]? key = null)
    {
        var ticket = await client.Plan(planId).BeginTell();
        return new PreparedTell(planId, ticket.StreamId, Seal(ticket, baseUrlOverride, key));
    }

    /// <summary>
    /// <see cref="TellWatchingAsync(Guid, string, string?, byte[]?, CancellationToken)"/> for a prepared tell. Throws
    /// <see cref="InvalidRequestException"/> when its reservation was replaced or expired: prepare again.
    /// </summary>
    public async Task<IAsyncEnumerable<StreamEvent>> TellWatchingAsync(PreparedTell prepared, string prompt, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        var plan = client.Plan(prepared.PlanId);
        var watch = new PushedWatch(client, plan);
        watch.Subscribe(prepared.StreamId, 0);
        return await StartWatchedAsync(plan, watch, prepared.StreamId, prompt, prepared.Key, ct);
    }

    private async Task<IAsyncEnumerable<StreamEvent>> StartWatchedAsync(IPlanGrain plan, PushedWatch watch, Guid streamId,
        string prompt, SealedKey key, CancellationToken ct)
    {
        try
        {
            await plan.Tell(streamId, prompt, key);
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }
        return Follow(watch, streamId, 0, ct);
    }

    private static SealedKey Seal(StreamTicket ticket, string? baseUrlOverride, byte[]? key)
    {
        var endpoint = EndpointChoice.Resolve(ticket.Model.Provider, ticket.Model.BaseUrl, baseUrlOverride);
        return key is null
            ? ProviderKey.SealFromEnvironment(ticket.Model.Provider, ticket, endpoint)
            : Plandex.GrainInterfaces.Security.ProviderKeySeal.Seal(ticket.SessionPublicKey, ticket.StreamId, endpoint, key);
    }

    /// <summary>The current (or last) stream's events after <paramref name="afterSeq"/>: replay, then live.</summary>
    public IAsyncEnumerable<StreamEvent> WatchAsync(Guid planId, long afterSeq = 0, CancellationToken ct = default) =>
        Follow(null, Guid.Empty, afterSeq, ct, planId);

    /// <summary>
    /// The watch loop: puts pushed events in sequence (dropping repeats), renews the subscription every
    /// <see cref="RenewEvery"/> (its answer is the heartbeat; events still missing by then are pushed again), and
    /// subscribes again when the plan lost it (its silo died, the gateway changed). A renewal or subscription that
    /// fails is retried until nothing was heard for <see cref="GiveUpAfter"/>; a refusal ends the watch at once.
    /// </summary>
    private async IAsyncEnumerable<StreamEvent> Follow(PushedWatch? watch, Guid streamId, long afterSeq,
        [EnumeratorCancellation] CancellationToken ct, Guid planId = default)
    {
        watch ??= new PushedWatch(client, client.Plan(planId));
        var seq = afterSeq;
        var ahead = new Dictionary<long, StreamEvent>();
        var lastHeard = DateTime.UtcNow; // progress: an event in sequence, or a successful renewal
        var ended = false;
        try
        {
            if (!watch.Subscribing) watch.Subscribe(streamId, seq);
            var lease = await watch.SubscribedAsync(SilenceLimit, GiveUpAfter, ct);
            if (lease.Status == WatchStatus.NoStream && streamId == Guid.Empty) yield break; // nothing to watch
            var gone = lease.Status == WatchStatus.NoStream; // a known stream the plan does not have (see below)
            if (!gone) streamId = lease.StreamId;
            var renewEvery = lease.Lease / 3 < RenewEvery ? lease.Lease / 3 : RenewEvery;
            var renewAt = DateTime.UtcNow + renewEvery;
            var heardSinceRenewal = false;
            if (gone) renewAt = DateTime.UtcNow + TimeSpan.FromMilliseconds(300);
            while (true)
            {
                while (watch.Receiver.Arrived.TryRead(out var batch))
                {
                    foreach (var e in batch)
                    {
                        if (e.StreamId != streamId) continue;
                        // A terminal event is taken even from behind: a reloaded plan ends the stream at sequence 1.
                        if (e.Seq > seq || (e.IsTerminal && !ahead.ContainsKey(e.Seq))) ahead[e.Seq > seq ? e.Seq : seq + 1] = e;
                    }
                }
                while (ahead.Remove(seq + 1, out var next))
                {
                    seq++;
                    lastHeard = DateTime.UtcNow;
                    heardSinceRenewal = true;
                    yield return next;
                    if (next.IsTerminal) { ended = true; yield break; }
                }
                var wait = renewAt - DateTime.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    watch.Receiver.WakeAt(renewAt); // an empty batch arrives when it is time to renew
                    var ready = watch.Receiver.Arrived.WaitToReadAsync(ct);
                    if (!ready.IsCompleted) await ready;
                    continue;
                }
                var (renewed, failure) = await watch.RenewAsync(seq, streamId, SilenceLimit, ct);
                if (failure is not null)
                {
                    if (failure is AccessDeniedException or InvalidRequestException || DateTime.UtcNow - lastHeard > GiveUpAfter)
                        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
                    renewAt = DateTime.UtcNow + TimeSpan.FromMilliseconds(100); // the cluster is recovering: try again soon
                    continue;
                }
                if (renewed!.Status == WatchStatus.NoStream)
                {
                    // The plan was reloaded without this stream (its silo died, or Orleans briefly ran a second copy
                    // of it while recovering from a lost silo). The end may still arrive: wait a moment, then take
                    // the end from the plan's status instead of stopping without one.
                    if (!gone) { gone = true; renewAt = DateTime.UtcNow + TimeSpan.FromMilliseconds(300); continue; }
                    var (end, endFailure) = await watch.EndFromStatusAsync(streamId, seq, SilenceLimit, ct);
                    if (end is null)
                    {
                        if (endFailure is AccessDeniedException or InvalidRequestException) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(endFailure);
                        if (DateTime.UtcNow - lastHeard > GiveUpAfter) throw endFailure ?? new TimeoutException("the stream could not be found on the server again");
                        renewAt = DateTime.UtcNow + TimeSpan.FromMilliseconds(300); // still streaming there: ask again
                        continue;
                    }
                    ended = true;
                    yield return end;
                    yield break;
                }
                gone = false;
                lastHeard = DateTime.UtcNow;
                if (!heardSinceRenewal) yield return new StreamEvent(streamId, seq, StreamEventKind.Heartbeat);
                heardSinceRenewal = false;
                renewAt = DateTime.UtcNow + renewEvery;
            }
        }
        finally
        {
            await watch.DisposeAsync(unsubscribe: !ended);
        }
    }

    /// <summary>How often a watch renews its subscription (also how soon it notices a lost connection or lost events).</summary>
    public TimeSpan RenewEvery { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>One pushed watch: the receiver, its observer reference, and the subscription's calls.</summary>
    private sealed class PushedWatch(PlandexClient client, IPlanGrain plan)
    {
        public StreamReceiver Receiver { get; } = new();
        private IStreamObserver? _observer;
        private Task<WatchLease>? _subscribing;
        private Guid _streamId;
        private long _afterSeq;

        public bool Subscribing => _subscribing is not null;

        /// <summary>Makes the observer reference now, before a subscription needs it.</summary>
        public void Register() => _ = Observer;

        private IStreamObserver Observer => _observer ??= client.Grains.CreateObjectReference<IStreamObserver>(Receiver);

        public void Subscribe(Guid streamId, long afterSeq)
        {
            (_streamId, _afterSeq) = (streamId, afterSeq);
            _subscribing = plan.Subscribe(Observer, streamId, afterSeq);
            _ = _subscribing.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        }

        /// <summary>The subscription's answer; retried (transient failures) until <paramref name="giveUpAfter"/>.</summary>
        public async Task<WatchLease> SubscribedAsync(TimeSpan silence, TimeSpan giveUpAfter, CancellationToken ct)
        {
            var since = DateTime.UtcNow;
            while (true)
            {
                try { return await _subscribing!.WaitAsync(silence, ct); }
                catch (Exception e) when (e is not (AccessDeniedException or InvalidRequestException or OperationCanceledException)
                    && DateTime.UtcNow - since < giveUpAfter)
                {
                    await Task.Delay(100, ct);
                    Subscribe(_streamId, _afterSeq);
                }
            }
        }

        public async Task<(WatchLease? Lease, Exception? Failure)> RenewAsync(long seenSeq, Guid streamId, TimeSpan silence, CancellationToken ct)
        {
            try
            {
                var lease = await plan.Renew(Observer, seenSeq).WaitAsync(silence, ct);
                if (lease.Status != WatchStatus.NotSubscribed) return (lease, null);
                // The plan lost the subscription (reloaded, or the lease ran out while the client was cut off).
                Subscribe(streamId, seenSeq);
                return (await _subscribing!.WaitAsync(silence, ct), null);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception e) { return (null, e); }
        }

        /// <summary>A terminal event made from the plan's status, once the stream is no longer running; null while it is.</summary>
        public async Task<(StreamEvent? End, Exception? Failure)> EndFromStatusAsync(Guid streamId, long seq, TimeSpan silence, CancellationToken ct)
        {
            try
            {
                var info = await plan.Describe().WaitAsync(silence, ct);
                if (info.Status == PlanStatus.Streaming && info.ActiveStreamId == streamId) return (null, null);
                var (kind, text) = info.ActiveStreamId != streamId
                    ? (StreamEventKind.Error, "the stream ended while this watch was cut off; its reply is in the conversation")
                    : info.Status switch
                    {
                        PlanStatus.Finished => (StreamEventKind.Finished, (string?)null),
                        PlanStatus.Stopped => (StreamEventKind.Stopped, null),
                        _ => (StreamEventKind.Error, info.LastError ?? "the stream ended with an error"),
                    };
                return (new StreamEvent(streamId, seq + 1, kind, text), null);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception e) { return (null, e); }
        }

        public async ValueTask DisposeAsync(bool unsubscribe = true)
        {
            Receiver.StopWaking();
            if (_observer is null) return;
            if (unsubscribe)
            {
                // The server may be gone: do not wait long for it (the lease ends the subscription anyway).
                var call = plan.Unsubscribe(_observer);
                _ = call.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                try { await call.WaitAsync(TimeSpan.FromMilliseconds(200)); }
                catch (Exception) { /* nothing to release */ }
            }
            client.Grains.DeleteObjectReference<IStreamObserver>(_observer);
            _observer = null;
        }
    }
}
