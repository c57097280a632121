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
    /// <see cref="TellAsync"/> and <see cref="WatchAsync"/> in one, faster to the first token: the watch is opened
    /// (WatchStream) as soon as the stream is reserved, so it is in place when Tell returns instead of starting then.
    /// Errors of the tell itself are thrown here, as by TellAsync; the returned events are those of WatchAsync.
    /// </summary>
    public async Task<IAsyncEnumerable<StreamEvent>> TellWatchingAsync(Guid planId, string prompt, string? baseUrlOverride = null,
        byte[]? key = null, CancellationToken ct = default)
    {
        var plan = client.Plan(planId);
        var ticket = await plan.BeginTell();
        var watch = new Attempt(plan.WatchStream(ticket.StreamId, ct).GetAsyncEnumerator(ct), start: true);
        try
        {
            await plan.Tell(ticket.StreamId, prompt, Seal(ticket, baseUrlOverride, key));
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }
        return Follow(planId, 0, watch, ct);
    }

    private static SealedKey Seal(StreamTicket ticket, string? baseUrlOverride, byte[]? key)
    {
        var endpoint = EndpointChoice.Resolve(ticket.Model.Provider, ticket.Model.BaseUrl, baseUrlOverride);
        return key is null
            ? ProviderKey.SealFromEnvironment(ticket.Model.Provider, ticket, endpoint)
            : Plandex.GrainInterfaces.Security.ProviderKeySeal.Seal(ticket.SessionPublicKey, ticket.StreamId, endpoint, key);
    }

    public IAsyncEnumerable<StreamEvent> WatchAsync(Guid planId, long afterSeq = 0, CancellationToken ct = default) =>
        Follow(planId, afterSeq, null, ct);

    private async IAsyncEnumerable<StreamEvent> Follow(Guid planId, long afterSeq, Attempt? first, [EnumeratorCancellation] CancellationToken ct)
    {
        var seq = afterSeq;
        var lastHeard = DateTime.UtcNow;
        Guid? streamId = null;
        while (true)
        {
            var attempt = first ?? new Attempt(client.Plan(planId).Watch(seq, ct).GetAsyncEnumerator(ct));
            var reattachOnEnd = first is not null; // a WatchStream that ended early: the plain watch takes over
            first = null;
            try
            {
                while (true)
                {
                    var (ok, ev, failure) = await attempt.NextAsync(SilenceLimit, ct);
                    if (failure is not null)
                    {
                        if (failure is AccessDeniedException or InvalidRequestException || DateTime.UtcNow - lastHeard > GiveUpAfter) throw failure;
                        break; // reconnect from seq
                    }
                    if (!ok && reattachOnEnd) break;
                    if (!ok) yield break;
                    // A different stream id means the plan restarted: its log starts again at 1.
                    if (streamId is { } known && ev!.StreamId != known && ev.Kind != StreamEventKind.Heartbeat) seq = 0;
                    streamId ??= ev!.StreamId;
                    if (ev!.Kind != StreamEventKind.Heartbeat)
                    {
                        if (ev.Seq <= seq && ev.StreamId == streamId && !ev.IsTerminal) continue; // already seen
                        seq = ev.Seq;
                        streamId = ev.StreamId;
                    }
                    // Only progress (a new event or a heartbeat) counts as hearing from the stream, so a loop of
                    // failing re-attachments ends in an error instead of running forever.
                    lastHeard = DateTime.UtcNow;
                    yield return ev;
                    if (ev.IsTerminal) yield break;
                }
            }
            finally
            {
                await attempt.DisposeAsync();
            }
            await Task.Delay(100, ct);
        }
    }

    private sealed class Attempt(IAsyncEnumerator<StreamEvent> inner, bool start = false) : IAsyncDisposable
    {
        // start: the first MoveNext goes out now (the call is on its way while the caller does other work).
        private ValueTask<bool>? _started = start ? Started(inner) : null;

        private static ValueTask<bool> Started(IAsyncEnumerator<StreamEvent> e)
        {
            var first = e.MoveNextAsync().AsTask();
            _ = first.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            return new ValueTask<bool>(first);
        }

        public async Task<(bool Ok, StreamEvent? Event, Exception? Failure)> NextAsync(TimeSpan silence, CancellationToken ct)
        {
            try
            {
                // Events that arrived in one batch are ready at once: no silence timer for them.
                var pending = _started ?? inner.MoveNextAsync();
                _started = null;
                if (pending.IsCompleted) return await pending ? (true, inner.Current, null) : (false, null, null);
                var next = pending.AsTask();
                try { await next.WaitAsync(silence, ct); }
                catch (TimeoutException) when (!next.IsCompleted)
                {
                    _ = next.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
                    return (false, null, new TimeoutException("no event or heartbeat from the server"));
                }
                return await next ? (true, inner.Current, null) : (false, null, null);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { throw; }
            catch (Exception e) { return (false, null, e); }
        }

        public async ValueTask DisposeAsync()
        {
            if (_started is { } started) { _started = null; try { await started.AsTask().WaitAsync(TimeSpan.FromMilliseconds(200)); } catch (Exception) { } }
            // The server side may be gone: do not wait long for it to acknowledge.
            var dispose = inner.DisposeAsync().AsTask();
            _ = dispose.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            try { await dispose.WaitAsync(TimeSpan.FromMilliseconds(200)); }
            catch (Exception) { /* nothing to release */ }
        }
    }
}
