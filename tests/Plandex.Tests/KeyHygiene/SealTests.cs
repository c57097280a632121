using System.Security.Cryptography;
using System.Text;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;

namespace Plandex.Tests.KeyHygiene;

/// <summary>The sealing contract between client and session: only the one session, for the one stream, opens a key.</summary>
public sealed class SealTests
{
    private const string Endpoint = "https://api.openai.com/v1";
    private static readonly byte[] Key = "sk-seal-test-0123456789"u8.ToArray();

    [Fact]
    public void The_session_opens_what_the_client_sealed_to_it()
    {
        using var session = new SessionKeyPair();
        var streamId = Guid.NewGuid();
        var sealedKey = ProviderKeySeal.Seal(session.PublicKey, streamId, Endpoint, Key);

        using var opened = session.Unseal(sealedKey, streamId);
        Assert.Equal(Endpoint, opened.Endpoint);
        Assert.Equal(Key, opened.Key.ToArray());
        Assert.Equal(32, session.PublicKey.Length);
        Assert.Equal(32, sealedKey.ClientPublicKey.Length);
        Assert.DoesNotContain(Encoding.UTF8.GetString(sealedKey.Ciphertext), Encoding.UTF8.GetString(Key), StringComparison.Ordinal);
    }

    [Fact]
    public void Another_session_or_another_stream_cannot_open_it()
    {
        using var session = new SessionKeyPair();
        using var other = new SessionKeyPair();
        var streamId = Guid.NewGuid();
        var sealedKey = ProviderKeySeal.Seal(session.PublicKey, streamId, Endpoint, Key);

        Assert.ThrowsAny<CryptographicException>(() => other.Unseal(sealedKey, streamId));
        Assert.ThrowsAny<CryptographicException>(() => session.Unseal(sealedKey, Guid.NewGuid()));
    }

    [Theory]
    [InlineData("ciphertext")]
    [InlineData("tag")]
    [InlineData("nonce")]
    [InlineData("client key")]
    public void Any_changed_byte_is_refused(string part)
    {
        using var session = new SessionKeyPair();
        var streamId = Guid.NewGuid();
        var s = ProviderKeySeal.Seal(session.PublicKey, streamId, Endpoint, Key);
        static byte[] Flip(byte[] b) { var c = (byte[])b.Clone(); c[^1] ^= 0x01; return c; }
        var tampered = part switch
        {
            "ciphertext" => s with { Ciphertext = Flip(s.Ciphertext) },
            "tag" => s with { Tag = Flip(s.Tag) },
            "nonce" => s with { Nonce = Flip(s.Nonce) },
            _ => s with { ClientPublicKey = Flip(s.ClientPublicKey) },
        };
        Assert.ThrowsAny<CryptographicException>(() => session.Unseal(tampered, streamId));
    }

    [Fact]
    public void A_malformed_or_low_order_public_key_is_refused_with_a_clear_error()
    {
        using var session = new SessionKeyPair();
        var streamId = Guid.NewGuid();
        var s = ProviderKeySeal.Seal(session.PublicKey, streamId, Endpoint, Key);

        var shortKey = Assert.ThrowsAny<CryptographicException>(() => session.Unseal(s with { ClientPublicKey = new byte[31] }, streamId));
        Assert.Contains("not an X25519 public key", shortKey.Message, StringComparison.Ordinal);
        // The all-zero point has low order: its "shared secret" would be zero, known to anyone.
        var zero = Assert.ThrowsAny<CryptographicException>(() => session.Unseal(s with { ClientPublicKey = new byte[32] }, streamId));
        Assert.Contains("shared secret", zero.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<CryptographicException>(() => ProviderKeySeal.Seal(new byte[32], streamId, Endpoint, Key));
        Assert.ThrowsAny<CryptographicException>(() => ProviderKeySeal.Seal(new byte[65], streamId, Endpoint, Key));
    }

    [Fact]
    public void A_destroyed_key_pair_opens_nothing()
    {
        var session = new SessionKeyPair();
        var streamId = Guid.NewGuid();
        var s = ProviderKeySeal.Seal(session.PublicKey, streamId, Endpoint, Key);
        session.Dispose();
        Assert.Throws<ObjectDisposedException>(() => session.Unseal(s, streamId));
        Assert.Throws<ObjectDisposedException>(() => session.PublicKey);
    }
}
