using System.Net;
using Microsoft.Extensions.Options;

namespace Plandex.Grains.Providers;

/// <summary>
/// Provider host names resolved once per <see cref="ProvidersOptions.HostCacheLifetime"/>, not once per stream.
/// Why: a lookup per tell put the resolver's latency (a network round trip, several behind a search-domain list) in
/// every tell's time to first token, and a provider whose DNS rotates its addresses gave each tell a different
/// address, so the connection pool (keyed by address) missed and each tell paid a new TCP and TLS handshake.
/// Only answers are cached, never decisions: <see cref="EndpointPolicy"/> checks the address on every use. The cache
/// holds only names that passed the allowlist, so it stays as small as the allowlist.
/// </summary>
public sealed class ProviderHosts
{
    private readonly IOptions<ProvidersOptions> _options;
    private readonly TimeProvider _time;
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _lookup;
    private readonly Dictionary<string, Answer> _answers = new(StringComparer.OrdinalIgnoreCase);

    public ProviderHosts(IOptions<ProvidersOptions> options, TimeProvider time) : this(options, time, Dns.GetHostAddressesAsync) { }

    /// <summary>For tests: <paramref name="lookup"/> stands in for the system resolver.</summary>
    internal ProviderHosts(IOptions<ProvidersOptions> options, TimeProvider time, Func<string, CancellationToken, Task<IPAddress[]>> lookup) =>
        (_options, _time, _lookup) = (options, time, lookup);

    /// <summary>One lookup in flight per host: a burst of tells to the same provider waits for the same answer.</summary>
    private sealed record Answer(Task<IPAddress[]> Addresses, long StartedAt);

    public async Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct)
    {
        var lifetime = _options.Value.HostCacheLifetime;
        if (lifetime <= TimeSpan.Zero) return await _lookup(host, ct);
        Answer answer;
        TaskCompletionSource<IPAddress[]>? mine = null;
        lock (_answers)
        {
            if (!_answers.TryGetValue(host, out answer!) || _time.GetElapsedTime(answer.StartedAt) >= lifetime)
            {
                mine = new TaskCompletionSource<IPAddress[]>(TaskCreationOptions.RunContinuationsAsynchronously);
                answer = new Answer(mine.Task, _time.GetTimestamp());
                _answers[host] = answer;
            }
        }
        if (mine is not null)
        {
            // Not the caller's token: others may be waiting for this answer.
            try { mine.SetResult(await _lookup(host, CancellationToken.None)); }
            catch (Exception e) { mine.SetException(e); }
        }
        try
        {
            return await answer.Addresses.WaitAsync(ct);
        }
        catch when (answer.Addresses.IsFaulted)
        {
            Forget(host, answer.Addresses); // a failed lookup is not remembered: the next tell asks again
            throw;
        }
    }

    /// <summary>Drops the cached answer for <paramref name="host"/> (its address could not be reached).</summary>
    public void Forget(string host)
    {
        lock (_answers) _answers.Remove(host);
    }

    private void Forget(string host, Task<IPAddress[]> failed)
    {
        lock (_answers)
            if (_answers.TryGetValue(host, out var a) && a.Addresses == failed) _answers.Remove(host);
    }
}
