using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Plandex.ProviderStub;

public sealed partial class ProviderStubServer
{
    // Relaxed escaping so an echoed key appears byte-for-byte in error bodies (the echo-key fault's whole point).
    internal static readonly JsonWriterOptions JsonOut = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions ControlJson = new(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };

    private void MapEndpoints(WebApplication app)
    {
        app.Use((ctx, next) =>
        {
            if (!ctx.Request.Path.StartsWithSegments("/_stub")) Interlocked.Increment(ref _requestCount);
            return next(ctx);
        });

        app.MapPost("/v1/chat/completions", ctx => HandleProviderAsync(ctx, StubProvider.OpenAI));
        app.MapPost("/v1/messages", ctx => HandleProviderAsync(ctx, StubProvider.Anthropic));

        app.MapGet("/_stub/requests", WriteRequestsAsync);
        app.MapDelete("/_stub/requests", ctx => { ClearRequests(); ctx.Response.StatusCode = 204; return Task.CompletedTask; });
        app.MapGet("/_stub/config", ctx => WriteConfigAsync(ctx, Defaults));
        app.MapPost("/_stub/config", UpdateConfigAsync);
        app.MapPost("/_stub/reset", ctx => { Reset(); return WriteConfigAsync(ctx, Defaults); });
    }

    private Task WriteRequestsAsync(HttpContext ctx)
    {
        var list = Requests.Select(r => new
        {
            time = r.Time,
            endTime = r.EndTime,
            path = r.Path,
            provider = r.Provider.ToString(),
            model = r.Model,
            stream = r.Stream,
            credentialSha256 = r.CredentialSha256,
            messages = r.Messages.Select(m => new { role = m.Role, content = m.Content }),
            statusCode = r.StatusCode,
            tokensSent = r.TokensSent,
            outcome = r.Outcome.ToString(),
            clientDisconnected = r.ClientDisconnected,
        });
        return ctx.Response.WriteAsJsonAsync(
            new { count = RequestCount, active = ActiveRequests, requests = list }, ControlJson, ctx.RequestAborted);
    }

    private static Task WriteConfigAsync(HttpContext ctx, StubOptions o) =>
        ctx.Response.WriteAsJsonAsync(new
        {
            tokens = o.Tokens,
            intervalMs = o.Interval.TotalMilliseconds,
            firstTokenDelayMs = o.FirstTokenDelay.TotalMilliseconds,
            fault = StubOptions.FaultName(o.Fault),
            faultAfterTokens = o.FaultAfterTokens,
            retryAfterSeconds = o.RetryAfterSeconds,
            expectedKeySha256 = o.ExpectedKeySha256,
            recordMessages = o.RecordMessages,
            maxRecordedRequests = o.MaxRecordedRequests,
        }, ControlJson, ctx.RequestAborted);

    /// <summary>Partial update: only the properties present in the JSON change.</summary>
    private async Task UpdateConfigAsync(HttpContext ctx)
    {
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted); }
        catch (JsonException e) { await BadConfig(ctx, "invalid JSON: " + e.Message); return; }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) { await BadConfig(ctx, "expected a JSON object"); return; }
            string? error = null;
            StubOptions updated = Defaults;
            Configure(current =>
            {
                error = TryApplyConfig(current, doc.RootElement, out var next);
                updated = next;
                return next;
            });
            if (error is not null) { await BadConfig(ctx, error); return; }
            await WriteConfigAsync(ctx, updated);
        }
    }

    private static Task BadConfig(HttpContext ctx, string message)
    {
        ctx.Response.StatusCode = 400;
        return ctx.Response.WriteAsJsonAsync(new { error = message }, ControlJson, ctx.RequestAborted);
    }

    private static string? TryApplyConfig(StubOptions current, JsonElement json, out StubOptions result)
    {
        result = current;
        var o = current;
        foreach (var p in json.EnumerateObject())
        {
            try
            {
                switch (p.Name.ToLowerInvariant())
                {
                    case "tokens": o = o with { Tokens = NonNegative(p.Value.GetInt32()) }; break;
                    case "intervalms": o = o with { Interval = TimeSpan.FromMilliseconds(NonNegative(p.Value.GetDouble())) }; break;
                    case "firsttokendelayms": o = o with { FirstTokenDelay = TimeSpan.FromMilliseconds(NonNegative(p.Value.GetDouble())) }; break;
                    case "faultaftertokens": o = o with { FaultAfterTokens = NonNegative(p.Value.GetInt32()) }; break;
                    case "retryafterseconds": o = o with { RetryAfterSeconds = NonNegative(p.Value.GetInt32()) }; break;
                    case "recordmessages": o = o with { RecordMessages = p.Value.GetBoolean() }; break;
                    case "maxrecordedrequests": o = o with { MaxRecordedRequests = NonNegative(p.Value.GetInt32()) }; break;
                    case "expectedkeysha256":
                        var hash = p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.GetString();
                        o = o with { ExpectedKeySha256 = string.IsNullOrEmpty(hash) ? null : hash.ToLowerInvariant() };
                        break;
                    case "fault":
                        var text = p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetRawText()
                            : p.Value.ValueKind == JsonValueKind.Null ? "none" : p.Value.GetString() ?? "none";
                        if (!StubOptions.TryParseFault(text, out var fault)) return $"bad fault '{text}'";
                        o = o with { Fault = fault };
                        break;
                    default:
                        return $"unknown config property '{p.Name}'";
                }
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentOutOfRangeException)
            {
                return $"bad value for '{p.Name}'";
            }
        }
        result = o;
        return null;
    }

    private static int NonNegative(int v) => v >= 0 ? v : throw new ArgumentOutOfRangeException(nameof(v));
    private static double NonNegative(double v) => v >= 0 ? v : throw new ArgumentOutOfRangeException(nameof(v));
}
