using System.Text.RegularExpressions;

namespace Plandex.Grains.Security;

/// <summary>
/// The one place that scrubs secret-shaped text (session tokens, provider keys, auth headers) from anything that
/// leaves through logs, error events or telemetry. It is a last line of defence: secrets are never meant to reach
/// a message in the first place.
/// </summary>
public static partial class Redactor
{
    public const string Mask = "[redacted]";

    [GeneratedRegex(@"(?i)(bearer\s+|x-api-key[""']?\s*[:=]\s*[""']?|api[_-]?key[""']?\s*[:=]\s*[""']?|authorization[""']?\s*[:=]\s*[""']?)[^\s""',}]+|pdx_[A-Za-z0-9_\-]{16,}|sk-[A-Za-z0-9_\-]{8,}", RegexOptions.CultureInvariant)]
    private static partial Regex SecretShape();

    public static string Redact(string? text) =>
        string.IsNullOrEmpty(text) ? text ?? "" : SecretShape().Replace(text, m => m.Groups[1].Success ? m.Groups[1].Value + Mask : Mask);
}
