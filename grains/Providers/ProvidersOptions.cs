namespace Plandex.Grains.Providers;

/// <summary>Section "Providers": where stream sessions may send a user's key.</summary>
public sealed class ProvidersOptions
{
    /// <summary>Base URLs keys may go to (prefix match on scheme, host, port and path), comma-separated.</summary>
    public string AllowedEndpoints { get; set; } =
        "https://api.openai.com/v1,https://api.anthropic.com/v1,https://openrouter.ai/api/v1,https://api.deepseek.com/v1";
    /// <summary>Also allow http(s)://127.0.0.1 / localhost endpoints (local quickstart, tests, Ollama on the same host).</summary>
    public bool AllowLoopback { get; set; }
    /// <summary>Allow endpoints that resolve to private networks (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10).</summary>
    public bool AllowPrivateNetworks { get; set; }
    /// <summary>No data from the provider for this long ends the stream with an error.</summary>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Upper bound of one stream.</summary>
    public TimeSpan MaxStreamDuration { get; set; } = TimeSpan.FromMinutes(30);
    /// <summary>
    /// Text arriving within this window is handed to the plan together (the first goes at once): once the reader
    /// has caught up with the provider, it reads the provider at most once per window.
    /// </summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.FromMilliseconds(20);
    /// <summary>
    /// The window under load: it widens linearly from <see cref="BatchWindow"/> to this as the silo's active streams
    /// approach <see cref="BatchWindowLoadedAt"/>. Every batch costs one grain call and one message per watcher however
    /// little text it carries, so fewer, larger batches keep a busy silo's CPU ahead of its streams. But a gap at the
    /// client is the window plus every delay on the way, so a wider window leaves less room for delays. (60 ms until
    /// the socket's wake-ups were held between windows, then 50; with each batch cheaper again, 40 ms gave 1,500
    /// streams a p99 ~25 ms lower after the start ramp for ~6 points more CPU, and 35 or 30 ms no lower again:
    /// PERF-NOTES, eighteenth session.)
    /// </summary>
    public TimeSpan BatchWindowLoaded { get; set; } = TimeSpan.FromMilliseconds(40);
    public int BatchWindowLoadedAt { get; set; } = 1000;
    /// <summary>
    /// An idle provider connection is kept this long for the next stream to the same endpoint (zero: a fresh
    /// connection per stream). Saves each tell a TCP and TLS handshake with the provider.
    /// </summary>
    public TimeSpan ConnectionIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// A provider's host name is looked up at most once per this long (zero: on every stream); a connection that
    /// cannot be made drops the answer at once. .NET does not report a DNS record's TTL, so this is the bound on how
    /// long a provider's move goes unseen.
    /// </summary>
    public TimeSpan HostCacheLifetime { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>At most this many idle connections are kept per provider endpoint.</summary>
    public int MaxIdleConnectionsPerEndpoint { get; set; } = 64;
    /// <summary>
    /// Activate each stream session on its plan's silo: its batches then go to the plan's inbox, not as messages, and
    /// provider connections spread as plans do. False: any silo at random (a session and its plan then fail apart).
    /// </summary>
    public bool SessionsNextToPlans { get; set; } = true;
    /// <summary>
    /// Stream sessions each silo keeps opened ahead of the next tell (activation and one-time key pair done), so a
    /// tell's first round trip does not wait for them; zero: each tell opens its own. Only with
    /// <see cref="SessionsNextToPlans"/>.
    /// </summary>
    public int ReadySessions { get; set; } = 2;

    /// <summary>The batch window for a silo running <paramref name="activeStreams"/> streams.</summary>
    public TimeSpan BatchWindowFor(long activeStreams)
    {
        if (BatchWindowLoaded <= BatchWindow || BatchWindowLoadedAt <= 0) return BatchWindow;
        var load = Math.Clamp((double)activeStreams / BatchWindowLoadedAt, 0, 1);
        return BatchWindow + (BatchWindowLoaded - BatchWindow) * load;
    }

    /// <summary>This silo's own ports: never a provider endpoint (set by the host, not by configuration).</summary>
    public HashSet<int> OwnPorts { get; } = [];

    public IReadOnlyList<string> AllowedEndpointList =>
        AllowedEndpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
