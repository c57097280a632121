namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record PlanSummary(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] string Name,
    [property: Id(2)] Guid OwnerId,
    [property: Id(3)] DateTimeOffset CreatedAt);
