using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Providers;

namespace Plandex.Grains.Streams;

/// <summary>
/// Stream sessions this silo opened ahead of any tell: activated, their one-time key pair made, no plan yet. A
/// <c>BeginTell</c> takes one instead of waiting for an activation and a key pair (about a quarter of a millisecond of
/// a plain tell's first token: PERF-NOTES, fifteenth session); when a stream ends, its plan opens one in its place.
/// A ready session holds nobody's key, only its key pair (whose private half never leaves libsodium); one older than
/// <see cref="MaxAge"/> is not handed out but stopped, so a reservation always gets a key pair with at least
/// <see cref="StreamSessionGrain.UnusedKeyPairLifetime"/> to live. Silo-local, in memory only; sessions are kept
/// ready only where they are placed next to their plans (on this silo, which they live and die with).
/// </summary>
internal sealed class ReadySessions(IOptions<ProvidersOptions> options, TimeProvider time)
{
    /// <summary>A ready session is handed out for this long after it opened.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(30);

    private readonly Lock _gate = new();
    private readonly Queue<(Guid StreamId, byte[] PublicKey, long OpenedAt)> _ready = new(); // guarded by _gate
    private int _opening;                                                                   // guarded by _gate

    /// <summary>Sessions ready now (tests and diagnostics).</summary>
    public int Count { get { lock (_gate) return _ready.Count; } }

    /// <summary>A ready session's stream id and public key, or null when none is; stops the ones too old to hand out.</summary>
    public (Guid StreamId, byte[] PublicKey)? TryTake(IGrainFactory grains)
    {
        List<Guid>? stale = null;
        (Guid, byte[])? taken = null;
        lock (_gate)
        {
            while (_ready.TryDequeue(out var r))
            {
                if (time.GetElapsedTime(r.OpenedAt) < MaxAge) { taken = (r.StreamId, r.PublicKey); break; }
                (stale ??= []).Add(r.StreamId);
            }
        }
        if (stale is not null)
            foreach (var id in stale) _ = CallQuietly(grains.GetGrain<IStreamSessionGrain>(id), static s => s.Stop());
        return taken;
    }

    /// <summary>
    /// Opens sessions until <see cref="ProvidersOptions.ReadySessions"/> are ready or on their way. Called from a
    /// plan's turn: sessions take calls from grains only.
    /// </summary>
    public void Refill(IGrainFactory grains)
    {
        var o = options.Value;
        if (!o.SessionsNextToPlans) return;
        while (true)
        {
            lock (_gate)
            {
                if (_ready.Count + _opening >= o.ReadySessions) return;
                _opening++;
            }
            _ = OpenAsync(Guid.NewGuid(), grains);
        }
    }

    private async Task OpenAsync(Guid streamId, IGrainFactory grains)
    {
        byte[]? publicKey = null;
        try { publicKey = await CallQuietly(grains.GetGrain<IStreamSessionGrain>(streamId), static s => s.Open(Guid.Empty)); }
        catch (Exception e) when (e is not OutOfMemoryException) { /* the next tell opens its session itself, as without this */ }
        lock (_gate)
        {
            _opening--;
            if (publicKey is not null) _ready.Enqueue((streamId, publicKey, time.GetTimestamp()));
        }
    }

    // Without the call context of the turn that asks (a user's tell): a ready session is nobody's yet. An async
    // method's changes to the context stay inside it; the rest runs off the plan's scheduler, which it does not touch.
    private static async Task<T> CallQuietly<T>(IStreamSessionGrain session, Func<IStreamSessionGrain, Task<T>> call)
    {
        RequestContext.Clear();
        return await call(session).ConfigureAwait(false);
    }

    private static async Task CallQuietly(IStreamSessionGrain session, Func<IStreamSessionGrain, Task> call)
    {
        RequestContext.Clear();
        try { await call(session).ConfigureAwait(false); }
        catch (Exception e) when (e is not OutOfMemoryException) { /* it drops its key pair on its own timer anyway */ }
    }
}
