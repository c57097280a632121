namespace Plandex.GrainInterfaces;

/// <summary>
/// The plan's model choice. <see cref="BaseUrl"/> is a hint shared with the org: the client decides where its key
/// goes (it seals the endpoint with the key), so a member who edits this cannot redirect another member's key.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ModelSettings(
    [property: Id(0)] string Provider,
    [property: Id(1)] string Model,
    [property: Id(2)] string? BaseUrl = null);
