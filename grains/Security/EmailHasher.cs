using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Plandex.Grains.Security;

/// <summary>
/// Keyed hash (HMAC-SHA256) of a normalised email, used for lookups so the database never needs the plaintext.
/// The key is a file in the key directory, created on first use (<see cref="Encryption.KeyFile"/>).
/// </summary>
public sealed class EmailHasher
{
    private readonly byte[] _key;

    public EmailHasher(IOptions<SecurityOptions> options)
    {
        _key = Encryption.KeyFile.ReadServerKey(options.Value.KeyDirectory, "email-lookup.key");
    }

    public byte[] Hash(string normalizedEmail) => HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(normalizedEmail));
}
