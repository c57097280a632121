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
        var dir = options.Value.KeyDirectory;
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "email-lookup.key");
        Encryption.KeyFile.CreateOnce(path); // whole or absent, even with other silos starting beside this one
        _key = File.ReadAllBytes(path);
        if (_key.Length != 32) throw new InvalidOperationException($"Security:KeyDirectory: {path} is not a 32-byte key");
    }

    public byte[] Hash(string normalizedEmail) => HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(normalizedEmail));
}
