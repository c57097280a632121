using System.Security.Cryptography;
using System.Text;

namespace Plandex.Grains.Encryption;

/// <summary>
/// The one place stored content is encrypted and decrypted (encryption at rest). AES-256-GCM under the subject's
/// data key from <see cref="KeyRing"/>; the associated data binds each blob to its subject and purpose (which
/// column, which row), so blobs cannot be moved between plans or fields. Blob: version (1) | nonce (12) | tag (16) | ciphertext.
/// </summary>
public sealed class Envelope(KeyRing ring)
{
    private const byte Version = 1;
    private const int NonceSize = 12, TagSize = 16, Header = 1 + NonceSize + TagSize;

    /// <param name="create">
    /// Make the subject's data key if it has none: only when the subject itself is being created. Otherwise a write
    /// for a deleted subject fails (<see cref="GrainInterfaces.KeyDestroyedException"/>) instead of resurrecting it.
    /// </param>
    public async ValueTask<byte[]> Seal(DataSubject subject, string purpose, ReadOnlyMemory<byte> plaintext, bool create = false)
    {
        var blob = new byte[Header + plaintext.Length];
        blob[0] = Version;
        RandomNumberGenerator.Fill(blob.AsSpan(1, NonceSize));
        using var gcm = await ring.Use(subject, create, key => new AesGcm(key, TagSize));
        gcm.Encrypt(blob.AsSpan(1, NonceSize), plaintext.Span, blob.AsSpan(Header), blob.AsSpan(1 + NonceSize, TagSize), Aad(subject, purpose));
        return blob;
    }

    /// <exception cref="GrainInterfaces.KeyDestroyedException">The subject's key or its epoch was destroyed.</exception>
    public async ValueTask<byte[]> Open(DataSubject subject, string purpose, byte[] blob)
    {
        if (blob.Length < Header || blob[0] != Version)
            throw new CryptographicException($"stored data of {subject} ({purpose}) is not in the encrypted format");
        var plain = new byte[blob.Length - Header];
        using var gcm = await ring.Use(subject, create: false, key => new AesGcm(key, TagSize));
        gcm.Decrypt(blob.AsSpan(1, NonceSize), blob.AsSpan(Header), blob.AsSpan(1 + NonceSize, TagSize), plain, Aad(subject, purpose));
        return plain;
    }

    public ValueTask<byte[]> SealText(DataSubject subject, string purpose, string text) =>
        Seal(subject, purpose, Encoding.UTF8.GetBytes(text));

    public async ValueTask<string> OpenText(DataSubject subject, string purpose, byte[] blob) =>
        Encoding.UTF8.GetString(await Open(subject, purpose, blob));

    /// <summary>
    /// A deterministic keyed hash of <paramref name="value"/> under the subject's key, for lookups (e.g. a context
    /// item by path) without storing the value in the clear. Shredded with the key like everything else.
    /// </summary>
    public ValueTask<byte[]> LookupKey(DataSubject subject, string purpose, string value) =>
        ring.Use(subject, create: false, key =>
        {
            Span<byte> derived = stackalloc byte[32];
            HKDF.DeriveKey(HashAlgorithmName.SHA256, key, derived, salt: [], Encoding.UTF8.GetBytes("lookup:" + purpose));
            var hash = HMACSHA256.HashData(derived, Encoding.UTF8.GetBytes(value));
            CryptographicOperations.ZeroMemory(derived);
            return hash;
        });

    private static byte[] Aad(DataSubject subject, string purpose)
    {
        var p = Encoding.UTF8.GetBytes(purpose);
        var aad = new byte[16 + p.Length];
        subject.Id.TryWriteBytes(aad);
        p.CopyTo(aad, 16);
        return aad;
    }
}
