namespace Plandex.GrainInterfaces;

/// <summary>
/// A provider key and endpoint sealed to one stream session (X25519 + HKDF-SHA256 + AES-256-GCM; see ProviderKeySeal).
/// Only ciphertext: safe to pass through Orleans messages, whose pooled buffers are never cleared.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SealedKey(
    [property: Id(0)] byte[] ClientPublicKey,
    [property: Id(1)] byte[] Nonce,
    [property: Id(2)] byte[] Ciphertext,
    [property: Id(3)] byte[] Tag);
