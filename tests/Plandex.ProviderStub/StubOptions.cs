using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Plandex.ProviderStub;

/// <summary>
/// What the stub does with a request. Values >= 400 are plain HTTP error statuses
/// (sent with the provider's real error JSON); the small values are stream-level faults.
/// </summary>
public enum StubFault
{
    None = 0,
    /// <summary>Send <see cref="StubOptions.FaultAfterTokens"/> tokens, then abort the connection.</summary>
    Drop = 1,
    /// <summary>Send <see cref="StubOptions.FaultAfterTokens"/> tokens, then stay silent until the client leaves.</summary>
    Stall = 2,
    /// <summary>401 whose error body contains the received key verbatim (like some real providers).</summary>
    EchoKey = 3,
    Unauthorized = 401,
    RateLimited = 429,
    ServerError = 500,
    ServiceUnavailable = 503,
    /// <summary>Anthropic's "overloaded_error".</summary>
    Overloaded = 529,
}

/// <summary>
/// Behaviour of the stub. Immutable so a request can take one snapshot and never see a half-applied update;
/// change server-wide defaults with <c>server.Defaults = server.Defaults with { ... }</c>.
/// </summary>
public sealed record StubOptions
{
    /// <summary>Number of content tokens in a reply ("t0 ", "t1 ", ...).</summary>
    public int Tokens { get; init; } = 20;
    /// <summary>Pause between tokens; zero sends as fast as possible (still one flush per token).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.Zero;
    /// <summary>Pause after the stream preamble and before the first token.</summary>
    public TimeSpan FirstTokenDelay { get; init; } = TimeSpan.Zero;
    public StubFault Fault { get; init; } = StubFault.None;
    /// <summary>Tokens sent before <see cref="StubFault.Drop"/> / <see cref="StubFault.Stall"/> kicks in.</summary>
    public int FaultAfterTokens { get; init; } = 5;
    /// <summary>Value of the retry-after header on 429/503/529.</summary>
    public int RetryAfterSeconds { get; init; } = 1;
    /// <summary>
    /// If set, requests whose credential does not hash to this (lowercase hex SHA-256) get a real-looking 401.
    /// A hash rather than the key so the stub never holds a secret; see <see cref="ProviderStubServer.HashCredential"/>.
    /// </summary>
    public string? ExpectedKeySha256 { get; init; }
    /// <summary>Keep request messages in the recording; benchmarks can turn this off to save memory.</summary>
    public bool RecordMessages { get; init; } = true;
    /// <summary>Oldest recordings are dropped beyond this many so long benchmark runs stay bounded.</summary>
    public int MaxRecordedRequests { get; init; } = 100_000;
    /// <summary>Server log level; Warning keeps the console quiet under load. Only read at start.</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Warning;
    /// <summary>An idle keep-alive connection is closed after this long. Only read at start.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromMinutes(10);

    internal static bool TryParseFault(string text, out StubFault fault)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "" or "none": fault = StubFault.None; return true;
            case "drop": fault = StubFault.Drop; return true;
            case "stall": fault = StubFault.Stall; return true;
            case "echo-key" or "echokey" or "echo_key": fault = StubFault.EchoKey; return true;
        }
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var status) && status is >= 400 and <= 599)
        {
            fault = (StubFault)status;
            return true;
        }
        fault = StubFault.None;
        return false;
    }

    internal static string FaultName(StubFault fault) => fault switch
    {
        StubFault.None => "none",
        StubFault.Drop => "drop",
        StubFault.Stall => "stall",
        StubFault.EchoKey => "echo-key",
        _ => ((int)fault).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// Applies per-request overrides carried in the model name, so concurrent tests need no shared state.
    /// Syntax: <c>stub[-label...]-key=value[-key=value...]</c>, e.g. <c>stub-tokens=1000-interval=20ms</c>,
    /// <c>stub-fault=429</c>, <c>stub-fault=drop-after=10</c>, <c>stub-fault=echo-key</c>.
    /// Keys: tokens, interval (or tps = tokens per second), first (first-token delay), fault, after, retry.
    /// Durations: 20ms, 1.5s, 500us; a bare number means milliseconds.
    /// Segments without '=' are labels and ignored. Models not starting with "stub-" use the defaults unchanged.
    /// </summary>
    public static bool TryApplyModel(StubOptions defaults, string? model, out StubOptions result, out string? error)
    {
        result = defaults;
        error = null;
        if (model is null || !(model.Equals("stub", StringComparison.OrdinalIgnoreCase)
                               || model.StartsWith("stub-", StringComparison.OrdinalIgnoreCase)))
            return true;

        // "echo-key" is the one value containing the separator; fold it before splitting.
        var normalized = model.Replace("echo-key", "echokey", StringComparison.OrdinalIgnoreCase);
        var o = defaults;
        foreach (var segment in normalized.Split('-').AsSpan(1))
        {
            var eq = segment.IndexOf('=');
            if (eq < 0) continue;
            var key = segment[..eq].ToLowerInvariant();
            var value = segment[(eq + 1)..];
            switch (key)
            {
                case "tokens" or "n":
                    if (!TryParseInt(value, out var tokens)) { error = $"bad tokens '{value}'"; return false; }
                    o = o with { Tokens = tokens };
                    break;
                case "interval" or "pace":
                    if (!TryParseDuration(value, out var interval)) { error = $"bad interval '{value}'"; return false; }
                    o = o with { Interval = interval };
                    break;
                case "tps":
                    if (!TryParseInt(value, out var tps)) { error = $"bad tps '{value}'"; return false; }
                    o = o with { Interval = tps == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(TimeSpan.TicksPerSecond / tps) };
                    break;
                case "first" or "ttft" or "delay":
                    if (!TryParseDuration(value, out var first)) { error = $"bad first-token delay '{value}'"; return false; }
                    o = o with { FirstTokenDelay = first };
                    break;
                case "fault":
                    if (!TryParseFault(value, out var fault)) { error = $"bad fault '{value}'"; return false; }
                    o = o with { Fault = fault };
                    break;
                case "after":
                    if (!TryParseInt(value, out var after)) { error = $"bad after '{value}'"; return false; }
                    o = o with { FaultAfterTokens = after };
                    break;
                case "retry":
                    if (!TryParseInt(value, out var retry)) { error = $"bad retry '{value}'"; return false; }
                    o = o with { RetryAfterSeconds = retry };
                    break;
                default:
                    // Strict on keys: a typo silently falling back to defaults would make a test pass for the wrong reason.
                    error = $"unknown stub parameter '{key}'";
                    return false;
            }
        }
        result = o;
        return true;
    }

    private static bool TryParseInt(string s, out int value) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    internal static bool TryParseDuration(string s, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        double scaleMs = 1;
        var number = s;
        if (s.EndsWith("ms", StringComparison.OrdinalIgnoreCase)) number = s[..^2];
        else if (s.EndsWith("us", StringComparison.OrdinalIgnoreCase)) { number = s[..^2]; scaleMs = 0.001; }
        else if (s.EndsWith('s') || s.EndsWith('S')) { number = s[..^1]; scaleMs = 1000; }
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d) || d < 0)
            return false;
        value = TimeSpan.FromMilliseconds(d * scaleMs);
        return true;
    }
}
