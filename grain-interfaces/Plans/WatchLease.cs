namespace Plandex.GrainInterfaces;

/// <summary>
/// Answer to Subscribe / Renew: what the observer is watching, the stream's last sequence number at that moment,
/// and how long the subscription lives without another Renew.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record WatchLease(
    [property: Id(0)] WatchStatus Status,
    [property: Id(1)] Guid StreamId,
    [property: Id(2)] long LastSeq,
    [property: Id(3)] TimeSpan Lease);
