using System.Diagnostics;
using System.Text;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Plandex.Tests.Streams;

/// <summary>One silo: a stream from start to end, stop, provider faults, bad input.</summary>
public sealed class StreamTests(OneSiloWorld world, ITestOutputHelper output) : IClassFixture<OneSiloWorld>
{
    private readonly StreamWorld _w = world.World;

    [Fact]
    public async Task Full_stream_through_the_CLI_is_stored_and_its_session_leaves_memory()
    {
        var env = CliEnv("cli");
        async Task<ProcessResult> Cli(params string[] args)
        {
            var r = await ProcessRunner.DotnetAsync(TestEnv.CliDll, args, env);
            Assert.True(r.ExitCode == 0, $"plandex {string.Join(' ', args)} failed: {r.Stderr}");
            return r;
        }
        await Cli("sign-up", "--email", "cli-stream@example.com", "--name", "Cli");
        await Cli("new", "--name", "cli-plan");
        await Cli("set-model", "openai", "stub-tokens=40-interval=5ms");
        var tell = await Cli("tell", "hello from the CLI");
        var ended = Stopwatch.StartNew();
        Assert.Contains(ProviderStubServer.ExpectedText(40), tell.Stdout);

        await _w.WaitSessionsGoneAsync(TimeSpan.FromSeconds(1));
        output.WriteLine($"session gone {ended.ElapsedMilliseconds} ms after the CLI saw the end");
        Console.WriteLine($"[measure] session grain gone {ended.ElapsedMilliseconds} ms after the stream ended");

        // Stored once, as one message: read back through the CLI; in the database it is ciphertext only.
        var convo = await Cli("convo");
        Assert.Contains(ProviderStubServer.ExpectedText(40), convo.Stdout);
        // (The world is shared by this class's tests: no assistant row of any plan may hold plaintext.)
        Assert.Equal(0L, await _w.Db.ScalarAsync<long>(
            "SELECT count(*) FROM plandex_plan_messages WHERE role = 'assistant' AND position('\\x7430207431207432'::bytea in content) > 0"));
        Assert.True(await _w.Db.ScalarAsync<long>("SELECT count(*) FROM plandex_plan_messages WHERE role = 'assistant'") > 0);
        var request = Assert.Single(_w.Stub.Requests, r => r.Messages.Any(m => m.Content == "hello from the CLI"));
        Assert.Equal(ProviderStubServer.HashCredential(Encoding.UTF8.GetString(_w.Key)), request.CredentialSha256);
        Assert.Contains(request.Messages, m => m.Role == "user" && m.Content == "hello from the CLI");
    }

    /// <summary>The CLI's environment: its own config directory, this world's silo, key and stub endpoint.</summary>
    private Dictionary<string, string> CliEnv(string name) => new()
    {
        ["PLANDEX_CONFIG_DIR"] = TestEnv.NewWorkDir(name),
        ["PLANDEX_SERVER"] = $"127.0.0.1:{_w.Silos[0].GatewayPort}",
        ["PLANDEX_CLUSTER_ID"] = "test",
        ["OPENAI_API_KEY"] = Encoding.UTF8.GetString(_w.Key),
        ["PLANDEX_OPENAI_BASE_URL"] = _w.Endpoint,
    };

    [Fact]
    public async Task The_CLI_reads_a_prompt_from_standard_input_while_its_tell_is_prepared()
    {
        var env = CliEnv("cli-stdin");
        async Task<ProcessResult> Cli(string? stdin, params string[] args)
        {
            var r = await ProcessRunner.DotnetAsync(TestEnv.CliDll, args, env, stdin: stdin);
            Assert.True(r.ExitCode == 0, $"plandex {string.Join(' ', args)} failed: {r.Stderr}");
            return r;
        }
        await Cli(null, "sign-up", "--email", "cli-stdin@example.com", "--name", "Cli");
        await Cli(null, "new", "--name", "stdin-plan");
        await Cli(null, "set-model", "openai", "stub-tokens=12");
        var requestsBefore = _w.Stub.Requests.Count; // the world is shared by this class's tests

        var tell = await Cli("a prompt\nover two lines\n", "tell");
        Assert.Contains(ProviderStubServer.ExpectedText(12), tell.Stdout);
        Assert.Equal(requestsBefore + 1, _w.Stub.Requests.Count);
        var request = _w.Stub.Requests[^1];
        Assert.Contains(request.Messages, m => m.Role == "user" && m.Content == "a prompt\nover two lines");

        // An empty prompt is refused before anything reaches the provider.
        var empty = await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["tell", "-"], env, stdin: "\n");
        Assert.NotEqual(0, empty.ExitCode);
        Assert.Contains("prompt is empty", empty.Stderr);
        Assert.Equal(requestsBefore + 1, _w.Stub.Requests.Count);
    }

    [Fact]
    public async Task A_streams_start_is_written_within_its_bound_when_the_first_token_is_slow()
    {
        // The start (prompt, streaming state) waits for the first chunk to go out, but at most Plans:StartWriteDelay
        // (50 ms): with a first token 1 s away, the prompt's row must be there long before it. (The stall limit here is
        // 2 s: with a first token 1.5 s away, the stream once ended with an error on a loaded CI machine, most likely
        // that limit; the message was not recorded then, so the assertion below now names it.)
        await using var client = await _w.ClientAsync();
        var planId = await _w.NewPlanAsync(client, "stub-tokens=3-first=1000ms");
        var requestsBefore = _w.Stub.Requests.Count;
        await _w.TellAsync(client, planId, "written early");
        var since = Stopwatch.StartNew();
        var sql = $"SELECT count(*) FROM plandex_plan_messages WHERE plan_id = '{planId}' AND role = 'user'";
        // Read in the database itself: asking the plan for its conversation would let the write go at once.
        while (await _w.Db.ScalarAsync<long>(sql) == 0)
        {
            Assert.True(since.Elapsed < TimeSpan.FromMilliseconds(500), "the prompt was not written well before the first token");
            await Task.Delay(20);
        }
        output.WriteLine($"prompt row written {since.ElapsedMilliseconds} ms after Tell returned");
        Assert.Equal(requestsBefore + 1, _w.Stub.Requests.Count); // the one request, its first token still pending

        var events = await StreamWorld.CollectAsync(client, planId);
        Assert.True(events[^1].Kind == StreamEventKind.Finished, $"the stream ended {events[^1].Kind}: {events[^1].Text}");
        Assert.Equal(ProviderStubServer.ExpectedText(3), StreamWorld.Text(events));
    }

    [Fact]
    public async Task Anthropic_stream_and_the_conversation_goes_with_the_next_request()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=12", "anthropic");
        await _w.TellAsync(client, plan, "first");
        var first = await StreamWorld.CollectAsync(client, plan);
        Assert.Equal(StreamEventKind.Finished, first[^1].Kind);
        Assert.Equal(ProviderStubServer.ExpectedText(12), StreamWorld.Text(first));
        StreamWorld.AssertNoGapsNoDuplicates(first);

        await _w.TellAsync(client, plan, "second");
        await StreamWorld.CollectAsync(client, plan);
        var second = _w.Stub.Requests[^1];
        Assert.Equal(["user:first", $"assistant:{ProviderStubServer.ExpectedText(12)}", "user:second"],
            second.Messages.Select(m => $"{m.Role}:{m.Content}"));
        var convo = await client.Plan(plan).Conversation();
        Assert.Equal(4, convo.Count);
    }

    [Fact]
    public async Task A_second_tell_while_streaming_is_refused()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=300-interval=10ms");
        await _w.TellAsync(client, plan);
        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => _w.TellAsync(client, plan, "again"));
        Assert.Contains("already running", e.Message);
        await client.Plan(plan).Stop();
        await StreamWorld.CollectAsync(client, plan);
    }

    [Fact]
    public async Task Stop_keeps_the_partial_reply_and_closes_the_provider_connection()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=1000-interval=10ms");
        await _w.TellAsync(client, plan);
        var events = new List<StreamEvent>();
        var stopped = false;
        await foreach (var e in client.Streams.WatchAsync(plan))
        {
            events.Add(e);
            if (!stopped && events.Count(x => x.Kind == StreamEventKind.Chunk) == 5)
            {
                stopped = true;
                await client.Plan(plan).Stop();
            }
        }
        Assert.Equal(StreamEventKind.Stopped, events[^1].Kind);
        var partial = StreamWorld.Text(events);
        Assert.False(string.IsNullOrEmpty(partial));
        Assert.StartsWith(partial, ProviderStubServer.ExpectedText(1000));
        Assert.NotEqual(ProviderStubServer.ExpectedText(1000), partial);

        var info = await client.Plan(plan).Describe();
        Assert.Equal(PlanStatus.Stopped, info.Status);
        var convo = await client.Plan(plan).Conversation();
        Assert.Equal(partial, convo[^1].Content);
        var request = _w.Stub.Requests[^1];
        await request.Finished.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(RequestOutcome.ClientDisconnected, request.Outcome);
        await _w.WaitSessionsGoneAsync(TimeSpan.FromSeconds(2));
    }

    [Theory]
    [InlineData("stub-fault=401", "refused the API key")]
    [InlineData("stub-fault=429", "rate limiting")]
    [InlineData("stub-fault=500", "provider failed (500)")]
    [InlineData("stub-tokens=50-fault=drop-after=5", "dropped mid-stream")]
    [InlineData("stub-tokens=50-fault=stall-after=3", "stalled")]
    public async Task Provider_faults_end_in_a_clear_error(string model, string expected)
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, model);
        await _w.TellAsync(client, plan);
        var events = await StreamWorld.CollectAsync(client, plan);
        var last = events[^1];
        Assert.Equal(StreamEventKind.Error, last.Kind);
        Assert.Contains(expected, last.Text);
        var info = await client.Plan(plan).Describe();
        Assert.Equal(PlanStatus.Error, info.Status);
        Assert.Contains(expected, info.LastError);
        await _w.WaitSessionsGoneAsync(TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Bad_input_gets_one_clear_error_and_persists_nothing_but_the_error_status()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=5");
        var before = await _w.Db.ScalarAsync<long>("SELECT count(*) FROM plandex_plan_messages");
        var requestsBefore = _w.Stub.Requests.Count;

        var empty = await Assert.ThrowsAsync<InvalidRequestException>(() => _w.TellAsync(client, plan, "   "));
        Assert.Equal("prompt is empty", empty.Message);
        var huge = await Assert.ThrowsAsync<InvalidRequestException>(() => _w.TellAsync(client, plan, new string('x', 5001)));
        Assert.Contains("prompt is too long", huge.Message);
        var unknownPlan = await Assert.ThrowsAsync<AccessDeniedException>(() => client.Plan(Guid.NewGuid()).BeginTell());
        Assert.Contains("no such plan", unknownPlan.Message);
        var provider = await Assert.ThrowsAsync<InvalidRequestException>(() => client.Plan(plan).SetModel(new ModelSettings("acme-ai", "x")));
        Assert.Contains("unknown provider 'acme-ai'", provider.Message);
        var model = await Assert.ThrowsAsync<InvalidRequestException>(() => client.Plan(plan).SetModel(new ModelSettings("openai", "bad model name!")));
        Assert.Contains("model may contain only", model.Message);

        Assert.Equal(before, await _w.Db.ScalarAsync<long>("SELECT count(*) FROM plandex_plan_messages"));
        Assert.Equal(requestsBefore, _w.Stub.Requests.Count);
    }

    [Fact]
    public async Task Missing_key_variable_is_one_line_from_the_CLI()
    {
        var silo = _w.Silos[0];
        var env = new Dictionary<string, string>
        {
            ["PLANDEX_CONFIG_DIR"] = TestEnv.NewWorkDir("cli"),
            ["PLANDEX_SERVER"] = $"127.0.0.1:{silo.GatewayPort}",
            ["PLANDEX_CLUSTER_ID"] = "test",
            ["OPENAI_API_KEY"] = "",
        };
        Assert.Equal(0, (await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["sign-up", "--email", "nokey@example.com", "--name", "N"], env)).ExitCode);
        Assert.Equal(0, (await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["new"], env)).ExitCode);
        var r = await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["tell", "hi", "--base-url", _w.Endpoint], env);
        Assert.Equal(1, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("OPENAI_API_KEY is not set", line);
    }
}
