using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Plandex.Benchmarks;

/// <summary>
/// The reference: the same stub read by a plain HttpClient on loopback, SSE parsed line by line (OpenAI wire), each
/// event's JSON read with Utf8JsonReader and its text collected: what a CLI calling the provider itself must do to
/// show the reply (until 2026-11-27 it only searched for the content key; see PERF-NOTES, fifth session).
/// A "chunk" here is one socket read that delivered at least one token, the closest analogue of a StreamEvent.
/// </summary>
internal sealed class DirectStubReader(Uri stubBase, byte[] key, System.Security.Cryptography.X509Certificates.X509Certificate2? stubCertificate = null)
{
    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] ContentKey = "content"u8.ToArray();
    private static readonly byte[] Done = "[DONE]"u8.ToArray();

    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseProxy = false,
        // Over TLS the stub's own certificate is the only one accepted (the silo trusts it as its only root).
        SslOptions = new System.Net.Security.SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = stubCertificate is null ? null : (_, cert, _, _) => cert is not null && cert.GetCertHash().AsSpan().SequenceEqual(stubCertificate.GetCertHash()),
        },
    }) { Timeout = Timeout.InfiniteTimeSpan };

    private readonly string _auth = "Bearer " + Encoding.UTF8.GetString(key);

    public sealed record Result(int Tokens, bool Done, long StartTicks, long FirstTokenTicks, long LastTokenTicks, long EndTicks);

    /// <summary>One streamed completion. <paramref name="onChunk"/> gets the timestamp of each read that carried tokens.</summary>
    public async Task<Result> ReadAsync(string model, Action<long>? onChunk, CancellationToken ct)
    {
        var body = $"{{\"model\":\"{model}\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"hello\"}}]}}";
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(stubBase, "v1/chat/completions"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", _auth);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        var start = Stopwatch.GetTimestamp();
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        await using var stream = await response.Content.ReadAsStreamAsync(ct);

        var buffer = new byte[16 * 1024];
        var text = new StringBuilder();
        int filled = 0, tokens = 0;
        long first = 0, last = 0;
        var done = false;
        while (!done)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            var n = await stream.ReadAsync(buffer.AsMemory(filled), ct);
            if (n == 0) break;
            var now = Stopwatch.GetTimestamp();
            filled += n;
            var consumed = 0;
            var before = tokens;
            while (true)
            {
                var span = buffer.AsSpan(consumed, filled - consumed);
                var nl = span.IndexOf((byte)'\n');
                if (nl < 0) break;
                var line = span[..nl];
                consumed += nl + 1;
                if (!line.StartsWith(DataPrefix)) continue;
                var data = line[DataPrefix.Length..];
                if (data.SequenceEqual(Done)) { done = true; break; }
                if (AppendContent(data, text)) tokens++;
            }
            if (consumed > 0)
            {
                Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                filled -= consumed;
            }
            if (tokens > before)
            {
                if (first == 0) first = now;
                last = now;
                onChunk?.Invoke(now);
            }
        }
        return new Result(tokens, done, start, first, last, Stopwatch.GetTimestamp());
    }

    /// <summary>Reads the event's whole JSON; appends every non-empty "content" string. True if it had text.</summary>
    private static bool AppendContent(ReadOnlySpan<byte> json, StringBuilder text)
    {
        var r = new Utf8JsonReader(json);
        var had = false;
        Span<char> chars = stackalloc char[256];
        while (r.Read())
        {
            if (r.TokenType != JsonTokenType.PropertyName || !r.ValueTextEquals(ContentKey)) continue;
            if (!r.Read() || r.TokenType != JsonTokenType.String || r.ValueSpan.Length is 0 or > 256) continue;
            text.Append(chars[..r.CopyString(chars)]);
            had = true;
        }
        return had;
    }
}
