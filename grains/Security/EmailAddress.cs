using System.Text;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Security;

/// <summary>
/// Normalises emails so one person cannot hold two accounts by spelling: Unicode compatibility forms folded
/// (NFKC: full-width letters become ASCII), whitespace trimmed, lower-cased; then only ASCII is accepted, which
/// refuses look-alike letters from other scripts.
/// </summary>
public static class EmailAddress
{
    public const int MaxLength = 254;

    public static string Normalize(string? raw)
    {
        if (string.IsNullOrWhiteSpace(raw)) throw new InvalidRequestException("email is required");
        if (raw.Length > 1000) throw new InvalidRequestException($"email is too long (max {MaxLength} characters)");
        var s = raw.Normalize(NormalizationForm.FormKC).Trim().ToLowerInvariant();
        if (s.Length > MaxLength) throw new InvalidRequestException($"email is too long (max {MaxLength} characters)");
        var at = s.IndexOf('@');
        if (at <= 0 || at != s.LastIndexOf('@') || at == s.Length - 1)
            throw new InvalidRequestException("email must look like name@example.com");
        foreach (var ch in s)
        {
            if (ch > 0x7E || ch <= 0x20 || ch is '"' or '(' or ')' or ',' or ':' or ';' or '<' or '>' or '[' or ']' or '\\')
                throw new InvalidRequestException("email may contain only plain ASCII letters, digits and . _ % + - @");
        }
        var domain = s[(at + 1)..];
        if (!domain.Contains('.') || domain.StartsWith('.') || domain.EndsWith('.') || domain.Contains(".."))
            throw new InvalidRequestException("email domain must look like example.com");
        return s;
    }
}
