namespace Plandex.GrainInterfaces;

[GenerateSerializer]
public enum PlanStatus
{
    Idle = 0,
    Streaming = 1,
    Finished = 2,
    Stopped = 3,
    Error = 4,
}
