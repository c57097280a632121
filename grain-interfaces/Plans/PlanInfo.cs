namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record PlanInfo(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] Guid OrgId,
    [property: Id(2)] Guid OwnerId,
    [property: Id(3)] string Name,
    [property: Id(4)] PlanStatus Status,
    [property: Id(5)] ModelSettings Model,
    [property: Id(6)] Guid? ActiveStreamId,
    [property: Id(7)] string? LastError,
    [property: Id(8)] int MessageCount,
    [property: Id(9)] Guid? StreamStartedBy = null,
    [property: Id(10)] DateTimeOffset? StreamStartedAt = null);
