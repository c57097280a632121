namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record OrgMember(
    [property: Id(0)] Guid AccountId,
    [property: Id(1)] string Email,
    [property: Id(2)] string Name,
    [property: Id(3)] OrgRole Role);
