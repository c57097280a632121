namespace Plandex.GrainInterfaces;

/// <summary>What a session sends to the provider: the model and the messages (context first, then conversation).</summary>
[GenerateSerializer, Immutable]
public sealed record ProviderRequest(
    [property: Id(0)] Guid PlanId,
    [property: Id(1)] Guid StreamId,
    [property: Id(2)] string Provider,
    [property: Id(3)] string Model,
    [property: Id(4)] IReadOnlyList<ProviderMessage> Messages);

[GenerateSerializer, Immutable]
public sealed record ProviderMessage(
    [property: Id(0)] string Role,
    [property: Id(1)] string Content);
