namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record SiloInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] string Address,
    [property: Id(2)] string Status);

[GenerateSerializer, Immutable]
public sealed record ClusterStatus(
    [property: Id(0)] string ClusterId,
    [property: Id(1)] IReadOnlyList<SiloInfo> Silos);
