namespace Plandex.GrainInterfaces;

/// <summary>
/// A reserved stream: the session's one-time public key (X25519, 32 raw bytes) that the client seals its
/// provider key and endpoint to. Valid only for this stream.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StreamTicket(
    [property: Id(0)] Guid StreamId,
    [property: Id(1)] byte[] SessionPublicKey,
    [property: Id(2)] ModelSettings Model);
