namespace Plandex.GrainInterfaces;

[GenerateSerializer, Immutable]
public sealed record ConvoMessage(
    [property: Id(0)] long Seq,
    [property: Id(1)] string Role,
    [property: Id(2)] string Content,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] int Tokens);
