namespace Plandex.Client.Connection;

/// <summary>How a client reaches the cluster. ClusterId/ServiceId must match the silos' settings.</summary>
public sealed record PlandexClientOptions
{
    public required ServerAddress Server { get; init; }
    public string ClusterId { get; init; } = Environment.GetEnvironmentVariable("PLANDEX_CLUSTER_ID") ?? "plandex-local";
    public string ServiceId { get; init; } = Environment.GetEnvironmentVariable("PLANDEX_SERVICE_ID") ?? "plandex";
    /// <summary>Session token sent with every call (RequestContext); null before sign-in.</summary>
    public string? SessionToken { get; init; }
    /// <summary>TLS to the gateways (PLANDEX_TLS, PLANDEX_CA_FILE): by default on unless every gateway is loopback.</summary>
    public ServerTls Tls { get; init; } = ServerTls.FromEnvironment();
    /// <summary>How long a call may wait for an answer; short so a dead silo surfaces quickly.</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
