using System.Security.Cryptography;
using System.Text;

namespace Plandex.Grains.Security;

/// <summary>
/// Random secrets handed to users (session tokens, invite and sign-in codes) and the hashes the server keeps
/// instead of them. 256-bit tokens; codes are shorter because they are typed, and rate limited.
/// </summary>
public static class SecretTokens
{
    public const string SessionPrefix = "pdx_";
    private const string CodeAlphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789"; // no 0/O, 1/I/L, U

    public static string NewSessionToken() => SessionPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>A typed code, e.g. "K7QX-M2PR-ZT9H" (about 59 bits).</summary>
    public static string NewCode()
    {
        Span<char> c = stackalloc char[12];
        for (var i = 0; i < c.Length; i++) c[i] = CodeAlphabet[RandomNumberGenerator.GetInt32(CodeAlphabet.Length)];
        return $"{c[..4]}-{c[4..8]}-{c[8..]}";
    }

    /// <summary>Codes are compared case- and separator-insensitively, so hash their canonical form.</summary>
    public static byte[] HashCode(string code) =>
        SHA256.HashData(Encoding.UTF8.GetBytes(new string(code.Where(char.IsLetterOrDigit).Select(char.ToUpperInvariant).ToArray())));

    public static byte[] HashToken(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
