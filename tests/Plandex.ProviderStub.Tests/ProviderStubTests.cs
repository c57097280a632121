using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Plandex.ProviderStub;
using Xunit;

namespace Plandex.ProviderStub.Tests;

/// <summary>One stub for the class; each test selects behaviour through the model name, so tests never share config.</summary>
public sealed class StubFixture : IAsyncLifetime
{
    public ProviderStubServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await ProviderStubServer.StartAsync();
        Http = new HttpClient { BaseAddress = Server.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }
}

public sealed class ProviderStubTests(StubFixture fx) : IClassFixture<StubFixture>
{
    private const string Key = "sk-test-0123456789abcdef";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static HttpRequestMessage OpenAi(string model, string key = Key, bool stream = true, string? content = "hello")
    {
        var req = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = Json(new
            {
                model,
                stream,
                messages = new object[] { new { role = "system", content = "be brief" }, new { role = "user", content } },
            }),
        };
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return req;
    }

    private static HttpRequestMessage Anthropic(string model, string key = Key, bool version = true)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, "v1/messages")
        {
            Content = Json(new
            {
                model,
                stream = true,
                max_tokens = 100,
                system = "sys prompt",
                messages = new object[]
                {
                    new { role = "user", content = new object[] { new { type = "text", text = "first question" } } },
                    new { role = "assistant", content = "first answer" },
                    new { role = "user", content = "second question" },
                },
            }),
        };
        req.Headers.Add("x-api-key", key);
        if (version) req.Headers.Add("anthropic-version", "2023-06-01");
        return req;
    }

    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage req, CancellationToken ct = default) =>
        await fx.Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, ct);

    /// <summary>Reads "data:" payloads of an OpenAI stream; returns content pieces and whether [DONE] arrived.</summary>
    private static async Task<(List<string> Tokens, List<JsonElement> Chunks, bool Done)> ReadOpenAiAsync(HttpResponseMessage resp)
    {
        var tokens = new List<string>();
        var chunks = new List<JsonElement>();
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]") return (tokens, chunks, true);
            var chunk = JsonDocument.Parse(data).RootElement.Clone();
            chunks.Add(chunk);
            foreach (var choice in chunk.GetProperty("choices").EnumerateArray())
                if (choice.GetProperty("delta").TryGetProperty("content", out var c) && c.GetString() is { Length: > 0 } s)
                    tokens.Add(s);
        }
        return (tokens, chunks, false);
    }

    [Fact]
    public async Task OpenAi_stream_sends_all_tokens_in_order_then_done()
    {
        using var resp = await SendAsync(OpenAi("stub-openai1-tokens=37"));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Equal("text/event-stream", resp.Content.Headers.ContentType?.MediaType);

        var (tokens, chunks, done) = await ReadOpenAiAsync(resp);
        Assert.True(done);
        Assert.Equal(37, tokens.Count);
        Assert.Equal(ProviderStubServer.ExpectedText(37), string.Concat(tokens));
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));

        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("stop", finish.GetProperty("finish_reason").GetString());
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(37, usage.GetProperty("completion_tokens").GetInt32());
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() > 0);

        var rec = await fx.Server.WaitForRequestAsync(r => r.Model == "stub-openai1-tokens=37", Wait);
        await rec.Finished.WaitAsync(Wait);
        Assert.Equal(RequestOutcome.Completed, rec.Outcome);
        Assert.Equal(37, rec.TokensSent);
        Assert.False(rec.ClientDisconnected);
        Assert.Equal(ProviderStubServer.HashCredential(Key), rec.CredentialSha256);
        Assert.Equal([new RecordedMessage("system", "be brief"), new RecordedMessage("user", "hello")], rec.Messages);
    }

    [Fact]
    public async Task Anthropic_stream_has_real_event_sequence()
    {
        using var resp = await SendAsync(Anthropic("stub-anth1-tokens=4"));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);

        var events = new List<(string Event, JsonElement Data)>();
        using (var reader = new StreamReader(await resp.Content.ReadAsStreamAsync()))
        {
            string? evt = null;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) evt = line["event: ".Length..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    var data = JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
                    Assert.Equal(evt, data.GetProperty("type").GetString()); // event name matches payload type
                    events.Add((evt!, data));
                }
            }
        }

        string[] expected =
        [
            "message_start", "content_block_start", "ping",
            "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta",
            "content_block_stop", "message_delta", "message_stop",
        ];
        Assert.Equal(expected, events.Select(e => e.Event));
        var text = string.Concat(events.Where(e => e.Event == "content_block_delta")
            .Select(e => e.Data.GetProperty("delta").GetProperty("text").GetString()));
        Assert.Equal("t0 t1 t2 t3 ", text);
        Assert.Equal("text_delta", events[3].Data.GetProperty("delta").GetProperty("type").GetString());
        Assert.Equal(4, events[8].Data.GetProperty("usage").GetProperty("output_tokens").GetInt32());

        var rec = await fx.Server.WaitForRequestAsync(r => r.Model == "stub-anth1-tokens=4", Wait);
        Assert.Equal(StubProvider.Anthropic, rec.Provider);
        Assert.Equal(ProviderStubServer.HashCredential(Key), rec.CredentialSha256);
        Assert.Equal(
            [
                new RecordedMessage("system", "sys prompt"), new RecordedMessage("user", "first question"),
                new RecordedMessage("assistant", "first answer"), new RecordedMessage("user", "second question"),
            ],
            rec.Messages);
    }

    [Fact]
    public async Task Anthropic_without_version_header_is_rejected()
    {
        using var resp = await SendAsync(Anthropic("stub-nover", version: false));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        var body = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("invalid_request_error", body.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Recorded_hash_matches_key_and_key_is_not_stored()
    {
        const string secret = "sk-unique-secret-value-42";
        using (var resp = await SendAsync(OpenAi("stub-hash1-tokens=1", key: secret)))
            await resp.Content.ReadAsStringAsync();
        var rec = await fx.Server.WaitForRequestAsync(r => r.Model == "stub-hash1-tokens=1", Wait);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
        Assert.Equal(expected, rec.CredentialSha256);

        var dump = await fx.Http.GetStringAsync("_stub/requests");
        Assert.Contains(expected, dump);
        Assert.DoesNotContain(secret, dump);
    }

    [Theory]
    [InlineData("openai", 401, "invalid_api_key")]
    [InlineData("openai", 429, "rate_limit_exceeded")]
    [InlineData("openai", 500, null)]
    [InlineData("anthropic", 401, "authentication_error")]
    [InlineData("anthropic", 429, "rate_limit_error")]
    [InlineData("anthropic", 500, "api_error")]
    [InlineData("anthropic", 529, "overloaded_error")]
    public async Task Error_faults_return_status_and_provider_error_json(string provider, int status, string? kind)
    {
        var model = $"stub-err{provider}{status}-fault={status}-retry=3";
        using var resp = await SendAsync(provider == "openai" ? OpenAi(model) : Anthropic(model));
        Assert.Equal(status, (int)resp.StatusCode);
        var body = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement;
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        if (provider == "openai")
        {
            Assert.True(error.TryGetProperty("type", out _));
            if (kind is null) Assert.Equal(JsonValueKind.Null, error.GetProperty("code").ValueKind);
            else Assert.Equal(kind, error.GetProperty("code").GetString());
        }
        else
        {
            Assert.Equal("error", body.GetProperty("type").GetString());
            Assert.Equal(kind, error.GetProperty("type").GetString());
        }
        if (status is 429 or 529) Assert.Equal(TimeSpan.FromSeconds(3), resp.Headers.RetryAfter?.Delta);
    }

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    public async Task Echo_key_fault_puts_the_key_in_the_error_body(string provider)
    {
        const string secret = "sk-echo+me/please-XYZ";
        var model = $"stub-echo{provider}-fault=echo-key";
        using var resp = await SendAsync(provider == "openai" ? OpenAi(model, key: secret) : Anthropic(model, key: secret));
        Assert.Equal(HttpStatusCode.Unauthorized, resp.StatusCode);
        var raw = await resp.Content.ReadAsStringAsync();
        Assert.Contains(secret, raw);
        var message = JsonDocument.Parse(raw).RootElement.GetProperty("error").GetProperty("message").GetString();
        Assert.Contains(secret, message);
    }

    [Fact]
    public async Task Missing_or_wrong_key_is_401()
    {
        var noKey = OpenAi("stub-nokey");
        noKey.Headers.Authorization = null;
        using (var resp = await SendAsync(noKey)) Assert.Equal(HttpStatusCode.Unauthorized, resp.StatusCode);

        await using var strict = await ProviderStubServer.StartAsync(new StubOptions { ExpectedKeySha256 = ProviderStubServer.HashCredential(Key) });
        using var http = new HttpClient { BaseAddress = strict.BaseUrl };
        using (var ok = await http.SendAsync(OpenAi("stub-tokens=1"))) Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using (var bad = await http.SendAsync(OpenAi("stub-tokens=1", key: "sk-wrong")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, bad.StatusCode);
            Assert.DoesNotContain("sk-wrong", await bad.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Drop_ends_stream_early_with_io_error()
    {
        // Under load the abort can overtake the response headers: then the send itself fails. Either way the
        // client must see a transport error, never a clean end of stream.
        var failed = false;
        try
        {
            using var resp = await SendAsync(OpenAi("stub-drop1-tokens=100-fault=drop-after=7"));
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            await ReadOpenAiAsync(resp);
        }
        catch (Exception e) when (e is IOException or HttpRequestException) { failed = true; }
        Assert.True(failed, "a dropped stream must end with a transport error");

        var rec = await fx.Server.WaitForRequestAsync(r => r.Model == "stub-drop1-tokens=100-fault=drop-after=7", Wait);
        await rec.Finished.WaitAsync(Wait);
        Assert.Equal(RequestOutcome.Dropped, rec.Outcome);
        Assert.Equal(7, rec.TokensSent);
    }

    [Fact]
    public async Task Stall_sends_n_tokens_then_goes_silent_until_client_leaves()
    {
        const string model = "stub-stall1-tokens=100-fault=stall-after=6";
        using var resp = await SendAsync(OpenAi(model));
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync());
        var tokens = new List<string>();
        var done = false;
        // No cancellation token on the read: cancelling a response read closes the connection,
        // and here the server must still see the client as present.
        var quietFor = TimeSpan.FromMilliseconds(1000);
        while (true)
        {
            var read = reader.ReadLineAsync();
            if (await Task.WhenAny(read, Task.Delay(quietFor)) != read) break; // silence: the stall
            var line = await read;
            if (line is null || line == "data: [DONE]") { done = true; break; }
            if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains("\"content\":\"t", StringComparison.Ordinal))
                tokens.Add(line);
        }
        Assert.False(done);
        Assert.Equal(6, tokens.Count);

        var rec = await fx.Server.WaitForRequestAsync(r => r.Model == model, Wait);
        Assert.Equal(RequestOutcome.InProgress, rec.Outcome);
        resp.Dispose(); // client leaves: the stall must end as a disconnect
        await rec.Finished.WaitAsync(Wait);
        Assert.True(rec.ClientDisconnected);
        Assert.Equal(6, rec.TokensSent);
    }

    [Fact]
    public async Task Client_cancelling_mid_stream_is_recorded_as_disconnected()
    {
        const string model = "stub-cancel1-tokens=1000-interval=10ms";
        using var cts = new CancellationTokenSource();
        var resp = await SendAsync(OpenAi(model), cts.Token);
        var stream = await resp.Content.ReadAsStreamAsync(cts.Token);
        using var reader = new StreamReader(stream);
        var seen = 0;
        while (seen < 5 && await reader.ReadLineAsync(cts.Token) is { } line)
            if (line.Contains("\"content\":\"t", StringComparison.Ordinal)) seen++;
        await cts.CancelAsync();
        resp.Dispose();

        var rec = await fx.Server.WaitForRequestAsync(r => r.Model == model, Wait);
        await rec.Finished.WaitAsync(Wait);
        Assert.True(rec.ClientDisconnected);
        Assert.InRange(rec.TokensSent, 5, 999);
    }

    [Fact]
    public async Task Pacing_and_first_token_delay_are_roughly_respected()
    {
        // 20 tokens at 25 ms = 475 ms after a 200 ms first-token delay; bounds are loose on purpose.
        var sw = Stopwatch.StartNew();
        using var resp = await SendAsync(OpenAi("stub-pace1-tokens=20-interval=25ms-first=200ms"));
        var headers = sw.Elapsed;
        var (tokens, _, done) = await ReadOpenAiAsync(resp);
        var total = sw.Elapsed;
        Assert.True(done);
        Assert.Equal(20, tokens.Count);
        Assert.True(headers < TimeSpan.FromMilliseconds(150) + TimeSpan.FromSeconds(2), $"headers after {headers}");
        Assert.True(total >= TimeSpan.FromMilliseconds(600), $"too fast: {total}");
        Assert.True(total < TimeSpan.FromSeconds(10), $"too slow: {total}");
    }

    [Fact]
    public async Task Tps_parameter_paces_stream()
    {
        var sw = Stopwatch.StartNew();
        using var resp = await SendAsync(Anthropic("stub-tps1-tokens=11-tps=50"));
        await resp.Content.ReadAsStringAsync();
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(150), $"too fast: {sw.Elapsed}");
    }

    [Fact]
    public async Task A_pace_faster_than_a_millisecond_still_sends_every_token_at_that_rate()
    {
        // 4,000 tokens/s: 0.25 ms apart, below the 1 ms a timer can tick; 200 tokens take about 50 ms.
        var sw = Stopwatch.StartNew();
        using var resp = await SendAsync(OpenAi("stub-fast1-tokens=200-tps=4000"));
        var (tokens, _, done) = await ReadOpenAiAsync(resp);
        Assert.True(done);
        Assert.Equal(200, tokens.Count);
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(45), $"too fast: {sw.Elapsed}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"too slow: {sw.Elapsed}");
    }

    [Fact]
    public async Task Non_streaming_request_gets_whole_reply()
    {
        using var resp = await SendAsync(OpenAi("stub-whole1-tokens=5", stream: false));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        var body = JsonDocument.Parse(await resp.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("t0 t1 t2 t3 t4 ", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task Unknown_stub_parameter_is_a_400()
    {
        using var resp = await SendAsync(OpenAi("stub-tokenz=5"));
        Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
    }
}

/// <summary>Tests that change server-wide state get their own server.</summary>
public sealed class ProviderStubControlTests
{
    [Fact]
    public async Task Control_endpoint_and_library_change_defaults_and_counter_counts()
    {
        await using var server = await ProviderStubServer.StartAsync(new StubOptions { Tokens = 3 });
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        Assert.Equal(0, server.RequestCount);

        async Task<string> Chat(string model)
        {
            var req = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = new StringContent($$"""{"model":"{{model}}","stream":true,"messages":[]}""", Encoding.UTF8, "application/json"),
            };
            req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k");
            using var resp = await http.SendAsync(req);
            return $"{(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}";
        }

        Assert.Contains("\"completion_tokens\":3", await Chat("gpt-4o"));

        using (var set = await http.PostAsync("_stub/config", new StringContent("""{"tokens":2,"fault":"429","retryAfterSeconds":9}""")))
        {
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
            Assert.Contains("\"fault\":\"429\"", await set.Content.ReadAsStringAsync());
        }
        Assert.Equal(StubFault.RateLimited, server.Defaults.Fault);
        Assert.StartsWith("429", await Chat("gpt-4o"));
        // The model name still wins over server defaults.
        Assert.Contains("\"completion_tokens\":4", await Chat("stub-fault=none-tokens=4"));

        server.Configure(o => o with { Fault = StubFault.None });
        Assert.Contains("\"completion_tokens\":2", await Chat("gpt-4o"));

        using (var bad = await http.PostAsync("_stub/config", new StringContent("""{"tokns":2}""")))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        Assert.Equal(4, server.RequestCount); // control calls are not counted
        var dump = JsonDocument.Parse(await http.GetStringAsync("_stub/requests")).RootElement;
        Assert.Equal(4, dump.GetProperty("count").GetInt64());
        Assert.Equal(4, dump.GetProperty("requests").GetArrayLength());

        using (await http.PostAsync("_stub/reset", null)) { }
        Assert.Equal(0, server.RequestCount);
        Assert.Empty(server.Requests);
        Assert.Equal(3, server.Defaults.Tokens);
    }

    [Fact]
    public async Task Idle_stub_counts_nothing_and_dispose_ends_stalled_streams()
    {
        await using var idle = await ProviderStubServer.StartAsync();
        var server = await ProviderStubServer.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseUrl };
        var req = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = new StringContent("""{"model":"stub-fault=stall-after=1","stream":true}""", Encoding.UTF8, "application/json"),
        };
        req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k");
        using var resp = await http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        var rec = await server.WaitForRequestAsync(_ => true, TimeSpan.FromSeconds(10));

        var sw = Stopwatch.StartNew();
        await server.DisposeAsync();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"dispose took {sw.Elapsed}");
        Assert.Equal(RequestOutcome.ServerStopped, rec.Outcome);
        Assert.Equal(0, idle.RequestCount);
        Assert.NotEqual(idle.BaseUrl.Port, server.BaseUrl.Port);
    }

    [Fact]
    public void Model_name_syntax_parses()
    {
        var d = new StubOptions();
        Assert.True(StubOptions.TryApplyModel(d, "stub-label-tokens=1000-interval=20ms-first=1.5s-fault=drop-after=10-retry=4", out var o, out _));
        Assert.Equal(1000, o.Tokens);
        Assert.Equal(TimeSpan.FromMilliseconds(20), o.Interval);
        Assert.Equal(TimeSpan.FromSeconds(1.5), o.FirstTokenDelay);
        Assert.Equal(StubFault.Drop, o.Fault);
        Assert.Equal(10, o.FaultAfterTokens);
        Assert.Equal(4, o.RetryAfterSeconds);
        Assert.True(StubOptions.TryApplyModel(d, "stub-fault=echo-key", out o, out _));
        Assert.Equal(StubFault.EchoKey, o.Fault);
        Assert.True(StubOptions.TryApplyModel(d, "stub-tps=50", out o, out _));
        Assert.Equal(TimeSpan.FromMilliseconds(20), o.Interval);
        Assert.True(StubOptions.TryApplyModel(d, "gpt-4o-tokens=5", out o, out _));
        Assert.Same(d, o);
        Assert.False(StubOptions.TryApplyModel(d, "stub-fault=boom", out _, out var error));
        Assert.NotNull(error);
    }
}
