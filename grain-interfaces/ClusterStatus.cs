namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record ClusterStatus(
    [property: Id(0)] string ClusterId,
    [property: Id(1)] IReadOnlyList<SiloInfo> Silos);
