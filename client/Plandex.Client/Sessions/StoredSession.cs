namespace Plandex.Client.Sessions;

/// <summary>What the CLI remembers between runs (per user, file mode 0600).</summary>
public sealed record StoredSession
{
    public required string Server { get; init; }
    public required string Token { get; init; }
    public required Guid AccountId { get; init; }
    public required Guid OrgId { get; init; }
    public required string Email { get; init; }
    public Guid? CurrentPlan { get; init; }

    // The token must never be printed by accident.
    public override string ToString() => $"StoredSession {{ Email = {Email}, Server = {Server} }}";
}
