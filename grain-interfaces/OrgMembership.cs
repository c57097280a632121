namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record OrgMembership(
    [property: Id(0)] Guid OrgId,
    [property: Id(1)] string OrgName,
    [property: Id(2)] OrgRole Role);
