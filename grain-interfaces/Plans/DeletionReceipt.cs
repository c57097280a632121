namespace Plandex.GrainInterfaces;

/// <summary>Proof of a deletion: ids and times only, never content.</summary>
[GenerateSerializer, Immutable]
public sealed record DeletionReceipt(
    [property: Id(0)] Guid Id,
    [property: Id(1)] string Kind,
    [property: Id(2)] Guid SubjectId,
    [property: Id(3)] Guid DeletedBy,
    [property: Id(4)] DateTimeOffset DeletedAt,
    [property: Id(5)] DateTimeOffset PurgeDue,
    [property: Id(6)] DateTimeOffset? PurgedAt);
