using Plandex.GrainInterfaces;

namespace Plandex.Grains.Accounts;

/// <summary>
/// An org's persistent state (sealed under the org's data key). It holds no member's personal data (names and
/// emails live with each account), its own name only sealed under the key of the account that named it (a new
/// org is named after its creator), and plan names only sealed under each plan's own key, so deleting an account
/// or a plan shreds those too, even in old copies of this state.
/// </summary>
[GenerateSerializer]
public sealed class OrgState
{
    /// <summary>The name as first stored, in the org's own state: read once, then sealed (see OrgGrain).</summary>
    [Id(0)] public string LegacyName { get; set; } = "";
    [Id(1)] public DateTimeOffset CreatedAt { get; set; }
    [Id(2)] public List<MemberEntry> Members { get; set; } = [];
    [Id(3)] public List<PlanEntry> Plans { get; set; } = [];
    /// <summary>The org's name sealed under <see cref="NamedBy"/>'s account key; null once that account is deleted.</summary>
    [Id(4)] public byte[]? SealedName { get; set; }
    [Id(5)] public Guid NamedBy { get; set; }
}

[GenerateSerializer, Immutable]
public sealed record MemberEntry([property: Id(0)] Guid AccountId, [property: Id(1)] OrgRole Role);

[GenerateSerializer, Immutable]
public sealed record PlanEntry(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] byte[] SealedName,
    [property: Id(2)] Guid OwnerId,
    [property: Id(3)] DateTimeOffset CreatedAt);
