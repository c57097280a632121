namespace Plandex.GrainInterfaces;

[GenerateSerializer]
public enum StreamEventKind
{
    Started = 0,
    Chunk = 1,
    Finished = 2,
    Stopped = 3,
    Error = 4,
    Heartbeat = 5,
    Deleted = 6,
}
