namespace Plandex.GrainInterfaces;

/// <summary>
/// One event of a plan's stream. Sequence numbers start at 1 per stream and have no gaps; a heartbeat repeats
/// the last sequence number (it is not part of the log).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StreamEvent(
    [property: Id(0)] Guid StreamId,
    [property: Id(1)] long Seq,
    [property: Id(2)] StreamEventKind Kind,
    [property: Id(3)] string? Text = null)
{
    public bool IsTerminal => Kind is StreamEventKind.Finished or StreamEventKind.Stopped or StreamEventKind.Error or StreamEventKind.Deleted;
}
