using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;

namespace Plandex.GrainInterfaces.Security;

/// <summary>
/// The one type that seals, unseals and wipes provider keys. It lives with the contracts because both ends of
/// <see cref="SealedKey"/> must share it exactly: the client seals, the stream session unseals.
///
/// Scheme: the session makes a one-time P-256 key pair; the client makes its own, derives a shared secret
/// (ECDH), expands it with HKDF-SHA256 (salt = stream id) into an AES-256-GCM key, and encrypts
/// "endpoint \n key" with the stream id as associated data. So the key never crosses Orleans in plaintext, only
/// this session can open it, and the endpoint cannot be swapped without breaking the tag.
///
/// Plaintext only ever sits in pinned arrays (the GC cannot copy them) that are zeroed when done. Hand-written
/// on purpose: no library keeps a secret out of managed strings and movable memory for us.
/// </summary>
public static class ProviderKeySeal
{
    private static readonly byte[] Info = "plandex provider key seal v1"u8.ToArray();

    /// <summary>Seals <paramref name="key"/> and its endpoint to a session. The caller wipes its own copy.</summary>
    public static SealedKey Seal(ReadOnlySpan<byte> sessionPublicKey, Guid streamId, string endpoint, ReadOnlySpan<byte> key)
    {
        using var mine = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        using var theirs = ECDiffieHellman.Create();
        theirs.ImportSubjectPublicKeyInfo(sessionPublicKey, out _);
        var endpointBytes = Encoding.UTF8.GetBytes(endpoint);
        var plain = Pinned(endpointBytes.Length + 1 + key.Length);
        var aesKey = Pinned(32);
        try
        {
            endpointBytes.CopyTo(plain, 0);
            plain[endpointBytes.Length] = (byte)'\n';
            key.CopyTo(plain.AsSpan(endpointBytes.Length + 1));
            DeriveKey(mine, theirs.PublicKey, streamId, aesKey);
            var nonce = RandomNumberGenerator.GetBytes(12);
            var cipher = new byte[plain.Length];
            var tag = new byte[16];
            using (var gcm = new AesGcm(aesKey, 16)) gcm.Encrypt(nonce, plain, cipher, tag, streamId.ToByteArray());
            return new SealedKey(mine.PublicKey.ExportSubjectPublicKeyInfo(), nonce, cipher, tag);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
            CryptographicOperations.ZeroMemory(aesKey);
        }
    }

    /// <summary>A pinned, zero-initialised array for secret bytes.</summary>
    public static byte[] Pinned(int length) => GC.AllocateArray<byte>(length, pinned: true);

    internal static void DeriveKey(ECDiffieHellman mine, ECDiffieHellmanPublicKey theirs, Guid streamId, byte[] into)
    {
        // DeriveRawSecretAgreement returns a fresh managed array: zero it at once.
        var shared = mine.DeriveRawSecretAgreement(theirs);
        try { HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, into, streamId.ToByteArray(), Info); }
        finally { CryptographicOperations.ZeroMemory(shared); }
    }
}

/// <summary>
/// The session's one-time key pair. Its private half is destroyed (<see cref="Dispose"/>) as soon as the key
/// was unsealed, or when the session ends without one.
/// </summary>
public sealed class SessionKeyPair : IDisposable
{
    private ECDiffieHellman? _ecdh = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);

    public byte[] PublicKey => (_ecdh ?? throw new ObjectDisposedException(nameof(SessionKeyPair))).PublicKey.ExportSubjectPublicKeyInfo();

    /// <summary>Opens a sealed key into pinned memory; throws <see cref="CryptographicException"/> if tampered with.</summary>
    public UnsealedKey Unseal(SealedKey sealedKey, Guid streamId)
    {
        var ecdh = _ecdh ?? throw new ObjectDisposedException(nameof(SessionKeyPair));
        using var theirs = ECDiffieHellman.Create();
        theirs.ImportSubjectPublicKeyInfo(sealedKey.ClientPublicKey, out _);
        var aesKey = ProviderKeySeal.Pinned(32);
        var plain = ProviderKeySeal.Pinned(sealedKey.Ciphertext.Length);
        try
        {
            ProviderKeySeal.DeriveKey(ecdh, theirs.PublicKey, streamId, aesKey);
            using (var gcm = new AesGcm(aesKey, 16)) gcm.Decrypt(sealedKey.Nonce, sealedKey.Ciphertext, sealedKey.Tag, plain, streamId.ToByteArray());
            return new UnsealedKey(plain);
        }
        catch
        {
            CryptographicOperations.ZeroMemory(plain);
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aesKey);
        }
    }

    public void Dispose()
    {
        _ecdh?.Dispose();
        _ecdh = null;
    }
}

/// <summary>
/// An unsealed provider key in one pinned buffer. The endpoint is not secret and may become a string; the key
/// never does: read it through <see cref="Key"/> and copy it only into other pinned buffers that get wiped.
/// </summary>
public sealed class UnsealedKey : IDisposable
{
    private readonly byte[] _buffer;
    private readonly int _split;
    private bool _wiped;

    internal UnsealedKey(byte[] pinnedPlaintext)
    {
        _buffer = pinnedPlaintext;
        _split = Array.IndexOf(pinnedPlaintext, (byte)'\n');
        if (_split < 0) { Dispose(); throw new CryptographicException("sealed key has no endpoint"); }
        Endpoint = Encoding.UTF8.GetString(_buffer, 0, _split);
    }

    public string Endpoint { get; }

    public ReadOnlySpan<byte> Key => _wiped ? throw new ObjectDisposedException(nameof(UnsealedKey)) : _buffer.AsSpan(_split + 1);

    public bool IsWiped => _wiped;

    /// <summary>Zeroes the buffer. Idempotent.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_buffer);
        _wiped = true;
    }

    // Never print key material, not even by accident.
    public override string ToString() => $"UnsealedKey {{ Endpoint = {Endpoint} }}";
}
