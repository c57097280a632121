namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record ContextItemInfo(
    [property: Id(0)] string Path,
    [property: Id(1)] long Size,
    [property: Id(2)] int Tokens,
    [property: Id(3)] string Sha256,
    [property: Id(4)] DateTimeOffset UpdatedAt);
