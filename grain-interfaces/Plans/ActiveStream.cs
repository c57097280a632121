namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record ActiveStream(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] string PlanName,
    [property: Id(2)] Guid StreamId,
    [property: Id(3)] Guid StartedBy,
    [property: Id(4)] DateTimeOffset StartedAt);
