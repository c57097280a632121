using System.Buffers.Text;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Plandex.ProviderStub;

public sealed partial class ProviderStubServer
{
    private static long s_idCounter;

    // Anthropic token frames never vary per request, so they are encoded once for the whole process.
    private static readonly byte[] AnthropicTokenPrefix = Encoding.UTF8.GetBytes(
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"");
    private static readonly byte[] AnthropicTokenSuffix = Encoding.UTF8.GetBytes("\"}}\n\n");
    private static readonly byte[] OpenAiTokenSuffix = Encoding.UTF8.GetBytes("\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n");

    private sealed record ParsedBody(string? Model, bool Stream, List<RecordedMessage> Messages, int PromptTokens);

    /// <summary>Thrown when a flush reports the client side is gone.</summary>
    private sealed class ClientGoneException : Exception;

    private async Task HandleProviderAsync(HttpContext ctx, StubProvider provider)
    {
        var defaults = Defaults;
        var rec = Record(new RecordedRequest(DateTimeOffset.UtcNow, ctx.Request.Path.Value ?? "", provider) { ConnectionId = ctx.Connection.Id }, defaults.MaxRecordedRequests);
        Interlocked.Increment(ref _activeStreams);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stopping.Token);
        var ct = linked.Token;
        try
        {
            // Hash the credential straight from the header; the plain value is never stored or logged.
            var credential = ReadCredential(ctx, provider);
            rec.CredentialSha256 = credential is null ? null : HashCredential(credential);
            credential = null;

            ParsedBody body;
            try { body = await ParseBodyAsync(ctx.Request, provider, defaults.RecordMessages, ct); }
            catch (JsonException)
            {
                await WriteErrorAsync(ctx, rec, provider, 400, "invalid JSON body", null);
                return;
            }
            rec.Model = body.Model;
            rec.Stream = body.Stream;
            rec.Messages = body.Messages;

            if (provider == StubProvider.Anthropic && !ctx.Request.Headers.ContainsKey("anthropic-version"))
            {
                await WriteErrorAsync(ctx, rec, provider, 400, "anthropic-version: header is required", null);
                return;
            }
            if (rec.CredentialSha256 is null)
            {
                await WriteErrorAsync(ctx, rec, provider, 401,
                    provider == StubProvider.OpenAI
                        ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                        : "x-api-key header is required", null);
                return;
            }
            if (!StubOptions.TryApplyModel(defaults, body.Model, out var o, out var modelError))
            {
                await WriteErrorAsync(ctx, rec, provider, 400, "stub model parameters: " + modelError, null);
                return;
            }
            if (o.ExpectedKeySha256 is not null && !string.Equals(o.ExpectedKeySha256, rec.CredentialSha256, StringComparison.OrdinalIgnoreCase))
            {
                await WriteErrorAsync(ctx, rec, provider, 401, provider == StubProvider.OpenAI ? "Incorrect API key provided." : "invalid x-api-key", null);
                return;
            }
            if (o.Fault == StubFault.EchoKey)
            {
                // Deliberately leaky, like providers that echo the bad key; read again only for this response.
                var key = ReadCredential(ctx, provider);
                await WriteErrorAsync(ctx, rec, provider, 401,
                    provider == StubProvider.OpenAI
                        ? $"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."
                        : $"invalid x-api-key: {key}", null);
                return;
            }
            if ((int)o.Fault >= 400)
            {
                await WriteErrorAsync(ctx, rec, provider, (int)o.Fault, null, o);
                return;
            }

            var id = Interlocked.Increment(ref s_idCounter);
            if (body.Stream)
            {
                var frames = provider == StubProvider.OpenAI
                    ? OpenAiFrames(id, body.Model, body.PromptTokens)
                    : AnthropicFrames(id, body.Model, body.PromptTokens);
                await StreamAsync(ctx, rec, o, frames, ct);
            }
            else
            {
                await RespondWholeAsync(ctx, rec, provider, o, id, body, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (ctx.RequestAborted.IsCancellationRequested) rec.Finish(RequestOutcome.ClientDisconnected);
            else
            {
                rec.Finish(RequestOutcome.ServerStopped);
                ctx.Abort(); // make the client see the end instead of a hang
            }
        }
        catch (Exception e) when (e is ClientGoneException or IOException)
        {
            // Kestrel's connection-reset/bad-request exceptions are IOExceptions: the peer went away.
            rec.Finish(RequestOutcome.ClientDisconnected);
        }
        finally
        {
            Interlocked.Decrement(ref _activeStreams);
            rec.Finish(RequestOutcome.Error); // no-op unless an unexpected exception skipped the outcome
        }
    }

    private static string? ReadCredential(HttpContext ctx, StubProvider provider)
    {
        if (provider == StubProvider.Anthropic)
        {
            var v = ctx.Request.Headers["x-api-key"];
            return v.Count == 0 ? null : v.ToString();
        }
        var auth = ctx.Request.Headers.Authorization;
        if (auth.Count == 0) return null;
        var s = auth.ToString();
        const string bearer = "Bearer ";
        return s.StartsWith(bearer, StringComparison.OrdinalIgnoreCase) ? s[bearer.Length..] : null;
    }

    private static async Task<ParsedBody> ParseBodyAsync(HttpRequest request, StubProvider provider, bool recordMessages, CancellationToken ct)
    {
        using var doc = await JsonDocument.ParseAsync(request.Body, default, ct);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new JsonException("body is not an object");
        string? model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var messages = new List<RecordedMessage>();
        var chars = 0;
        if (provider == StubProvider.Anthropic && root.TryGetProperty("system", out var system))
        {
            var text = FlattenContent(system);
            chars += text.Length;
            messages.Add(new RecordedMessage("system", text));
        }
        if (root.TryGetProperty("messages", out var msgs) && msgs.ValueKind == JsonValueKind.Array)
        {
            foreach (var msg in msgs.EnumerateArray())
            {
                if (msg.ValueKind != JsonValueKind.Object) continue;
                var role = msg.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() ?? "" : "";
                var content = msg.TryGetProperty("content", out var c) ? FlattenContent(c) : "";
                chars += content.Length;
                messages.Add(new RecordedMessage(role, content));
            }
        }
        // Rough "4 characters per token" so usage numbers look plausible and grow with the context sent.
        var promptTokens = Math.Max(1, chars / 4);
        return new ParsedBody(model, stream, recordMessages ? messages : [], promptTokens);
    }

    /// <summary>Content is a string or an array of typed parts in both APIs; keep the text parts.</summary>
    private static string FlattenContent(JsonElement content)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                return content.GetString() ?? "";
            case JsonValueKind.Array:
                var sb = new StringBuilder();
                foreach (var part in content.EnumerateArray())
                {
                    if (part.ValueKind == JsonValueKind.String) Append(sb, part.GetString());
                    else if (part.ValueKind == JsonValueKind.Object)
                    {
                        if (part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String) Append(sb, t.GetString());
                        else if (part.TryGetProperty("content", out var inner)) Append(sb, FlattenContent(inner)); // tool_result
                    }
                }
                return sb.ToString();
            default:
                return "";
        }

        static void Append(StringBuilder sb, string? text)
        {
            if (sb.Length > 0) sb.Append('\n');
            sb.Append(text);
        }
    }

    /// <summary>Byte frames for one stream: everything but the tokens is built once per request.</summary>
    private sealed record StreamFrames(byte[] Preamble, byte[] TokenPrefix, byte[] TokenSuffix, Func<int, byte[]> Epilogue);

    private static string JsonString(string? s) => JsonEncodedText.Encode(s ?? "", JsonOut.Encoder).ToString();

    private static StreamFrames OpenAiFrames(long id, string? model, int promptTokens)
    {
        var head = $"data: {{\"id\":\"chatcmpl-stub{id}\",\"object\":\"chat.completion.chunk\",\"created\":{DateTimeOffset.UtcNow.ToUnixTimeSeconds()},\"model\":\"{JsonString(model)}\",";
        var preamble = head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
        var tokenPrefix = head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
        return new StreamFrames(Encoding.UTF8.GetBytes(preamble), Encoding.UTF8.GetBytes(tokenPrefix), OpenAiTokenSuffix,
            sent => Encoding.UTF8.GetBytes(
                head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
                + head + $"\"choices\":[],\"usage\":{{\"prompt_tokens\":{promptTokens},\"completion_tokens\":{sent},\"total_tokens\":{promptTokens + sent}}}}}\n\n"
                + "data: [DONE]\n\n"));
    }

    private static StreamFrames AnthropicFrames(long id, string? model, int promptTokens)
    {
        var preamble =
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_stub" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"" + JsonString(model)
            + "\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + promptTokens + ",\"output_tokens\":1}}}\n\n"
            + "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
            + "event: ping\ndata: {\"type\": \"ping\"}\n\n";
        return new StreamFrames(Encoding.UTF8.GetBytes(preamble), AnthropicTokenPrefix, AnthropicTokenSuffix,
            sent => Encoding.UTF8.GetBytes(
                "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + sent + "}}\n\n"
                + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    }

    private static readonly TimeSpan MinTick = TimeSpan.FromMilliseconds(1);

    private async Task StreamAsync(HttpContext ctx, RecordedRequest rec, StubOptions o, StreamFrames frames, CancellationToken ct)
    {
        var response = ctx.Response;
        response.StatusCode = 200;
        rec.SetStatus(200);
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers[rec.Provider == StubProvider.OpenAI ? "x-request-id" : "request-id"] = "req_stub" + s_idCounter;
        var writer = response.BodyWriter;

        Check(await writer.WriteAsync(frames.Preamble, ct));
        if (o.FirstTokenDelay > TimeSpan.Zero) await Task.Delay(o.FirstTokenDelay, ct);

        var faulting = o.Fault is StubFault.Drop or StubFault.Stall;
        var limit = faulting ? Math.Min(o.Tokens, o.FaultAfterTokens) : o.Tokens;
        var intervalTicks = (long)(o.Interval.TotalSeconds * Stopwatch.Frequency);
        var start = Stopwatch.GetTimestamp();
        // One periodic timer per stream, not a Task.Delay per token (a timer, a promise and a registration each:
        // a fifth of the stub's CPU at 1,000 paced streams, on the machine the relay is measured on).
        // PeriodicTimer refuses periods under 1 ms: a faster pace ticks every 1 ms and sends what is due on each tick.
        using var pace = intervalTicks > 0 && limit > 1 ? new PeriodicTimer(o.Interval < MinTick ? MinTick : o.Interval) : null;
        var earlyTicks = Math.Min(intervalTicks / 4, Stopwatch.Frequency / 500);
        for (var i = 0; i < limit; i++)
        {
            // Schedule against the start time, not the previous token, so timer lateness does not accumulate: a
            // token already due goes at once, as many as are due. The timer's clock is coarse and may tick a little
            // early: a token due within a quarter interval (at most 2 ms) goes on that tick rather than a whole
            // interval late.
            while (pace is not null && i > 0 && start + i * intervalTicks - Stopwatch.GetTimestamp() > earlyTicks)
                await pace.WaitForNextTickAsync(ct);
            // Kestrel may silently swallow writes after the peer left, so the token is the reliable signal.
            ct.ThrowIfCancellationRequested();
            Check(await WriteTokenAsync(writer, frames.TokenPrefix, i, frames.TokenSuffix, ct));
            rec.TokenSent();
        }

        if (o.Fault == StubFault.Drop)
        {
            // Give the socket a moment to put the flushed tokens on the wire; abort discards unsent output.
            await Task.Delay(50, ct);
            rec.Finish(RequestOutcome.Dropped);
            ctx.Abort();
            return;
        }
        if (o.Fault == StubFault.Stall)
            await Task.Delay(Timeout.Infinite, ct); // ends only by cancellation: client gone or server stopping

        Check(await writer.WriteAsync(frames.Epilogue(rec.TokensSent), ct));
        rec.Finish(RequestOutcome.Completed);
    }

    /// <summary>One SSE frame: prefix + "t{i} " + suffix, formatted straight into the pipe (no per-token allocation).</summary>
    private static ValueTask<FlushResult> WriteTokenAsync(PipeWriter writer, byte[] prefix, int index, byte[] suffix, CancellationToken ct)
    {
        var span = writer.GetSpan(prefix.Length + suffix.Length + 16);
        prefix.CopyTo(span);
        var pos = prefix.Length;
        span[pos++] = (byte)'t';
        Utf8Formatter.TryFormat(index, span[pos..], out var written);
        pos += written;
        span[pos++] = (byte)' ';
        suffix.CopyTo(span[pos..]);
        writer.Advance(pos + suffix.Length);
        return writer.FlushAsync(ct);
    }

    private static void Check(FlushResult result)
    {
        if (result.IsCanceled || result.IsCompleted) throw new ClientGoneException();
    }

    private async Task RespondWholeAsync(HttpContext ctx, RecordedRequest rec, StubProvider provider, StubOptions o, long id, ParsedBody body, CancellationToken ct)
    {
        var faulting = o.Fault is StubFault.Drop or StubFault.Stall;
        var tokens = faulting ? Math.Min(o.Tokens, o.FaultAfterTokens) : o.Tokens;
        // Same total latency as the stream would have, delivered at once.
        var total = o.FirstTokenDelay + o.Interval * Math.Max(0, tokens - 1);
        if (total > TimeSpan.Zero) await Task.Delay(total, ct);
        if (o.Fault == StubFault.Drop)
        {
            rec.Finish(RequestOutcome.Dropped);
            ctx.Abort();
            return;
        }
        if (o.Fault == StubFault.Stall) await Task.Delay(Timeout.Infinite, ct);

        var text = ExpectedText(o.Tokens);
        ctx.Response.StatusCode = 200;
        rec.SetStatus(200);
        ctx.Response.ContentType = "application/json";
        using (var json = new Utf8JsonWriter(ctx.Response.BodyWriter, JsonOut))
        {
            json.WriteStartObject();
            if (provider == StubProvider.OpenAI)
            {
                json.WriteString("id", "chatcmpl-stub" + id);
                json.WriteString("object", "chat.completion");
                json.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
                json.WriteString("model", body.Model);
                json.WriteStartArray("choices");
                json.WriteStartObject();
                json.WriteNumber("index", 0);
                json.WriteStartObject("message");
                json.WriteString("role", "assistant");
                json.WriteString("content", text);
                json.WriteEndObject();
                json.WriteNull("logprobs");
                json.WriteString("finish_reason", "stop");
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteStartObject("usage");
                json.WriteNumber("prompt_tokens", body.PromptTokens);
                json.WriteNumber("completion_tokens", o.Tokens);
                json.WriteNumber("total_tokens", body.PromptTokens + o.Tokens);
                json.WriteEndObject();
            }
            else
            {
                json.WriteString("id", "msg_stub" + id);
                json.WriteString("type", "message");
                json.WriteString("role", "assistant");
                json.WriteString("model", body.Model);
                json.WriteStartArray("content");
                json.WriteStartObject();
                json.WriteString("type", "text");
                json.WriteString("text", text);
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteString("stop_reason", "end_turn");
                json.WriteNull("stop_sequence");
                json.WriteStartObject("usage");
                json.WriteNumber("input_tokens", body.PromptTokens);
                json.WriteNumber("output_tokens", o.Tokens);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        Check(await ctx.Response.BodyWriter.FlushAsync(ct));
        for (var i = 0; i < o.Tokens; i++) rec.TokenSent();
        rec.Finish(RequestOutcome.Completed);
    }

    /// <summary>Error in the provider's real JSON shape; default messages per status when none is given.</summary>
    private static async Task WriteErrorAsync(HttpContext ctx, RecordedRequest rec, StubProvider provider, int status, string? message, StubOptions? o)
    {
        var response = ctx.Response;
        response.StatusCode = status;
        rec.SetStatus(status);
        response.ContentType = "application/json";
        if (status is 429 or 503 or 529)
            response.Headers.RetryAfter = (o?.RetryAfterSeconds ?? 1).ToString(System.Globalization.CultureInfo.InvariantCulture);

        using (var json = new Utf8JsonWriter(response.BodyWriter, JsonOut))
        {
            json.WriteStartObject();
            if (provider == StubProvider.OpenAI)
            {
                var (type, code, text) = status switch
                {
                    401 => ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
                    429 => ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
                    500 => ("server_error", (string?)null, "The server had an error while processing your request. Sorry about that!"),
                    503 => ("server_error", "service_unavailable", "The engine is currently overloaded, please try again later."),
                    >= 500 => ("server_error", null, "The server had an error while processing your request."),
                    _ => ("invalid_request_error", null, "Invalid request."),
                };
                json.WriteStartObject("error");
                json.WriteString("message", message ?? text);
                json.WriteString("type", type);
                json.WriteNull("param");
                if (code is null) json.WriteNull("code"); else json.WriteString("code", code);
                json.WriteEndObject();
            }
            else
            {
                var (type, text) = status switch
                {
                    400 => ("invalid_request_error", "Invalid request."),
                    401 => ("authentication_error", "invalid x-api-key"),
                    403 => ("permission_error", "Your API key does not have permission to use the specified resource."),
                    404 => ("not_found_error", "The requested resource could not be found."),
                    413 => ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
                    429 => ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
                    529 => ("overloaded_error", "Overloaded"),
                    >= 500 => ("api_error", "Internal server error"),
                    _ => ("invalid_request_error", "Invalid request."),
                };
                json.WriteString("type", "error");
                json.WriteStartObject("error");
                json.WriteString("type", type);
                json.WriteString("message", message ?? text);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        await response.BodyWriter.FlushAsync(ctx.RequestAborted);
        rec.Finish(RequestOutcome.Error);
    }
}
