namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record SiloInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string Address,
    [property: Id(2)] string Status);
