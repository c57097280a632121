using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Context;

/// <summary>Loading context: ignored files never reach the server; hostile paths and limits are refused.</summary>
public sealed class ContextTests(OneSiloWorld world) : IClassFixture<OneSiloWorld>
{
    private const string Canary = "CANARY-ignored-7f3a9c";
    private readonly StreamWorld _w = world.World;

    private static string MakeProject()
    {
        var root = TestEnv.NewWorkDir("project");
        void Write(string rel, string text)
        {
            var p = Path.Combine(root, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllText(p, text);
        }
        Directory.CreateDirectory(Path.Combine(root, ".git"));
        Write(".gitignore", ".env\nbuild/\n*.log\n");
        Write(".plandexignore", "secrets/\n");
        Write("README.md", "# demo\n");
        Write("src/app.cs", "class App {}\n");
        Write("src/debug.log", Canary);
        Write(".env", "OPENAI_API_KEY=" + Canary);
        Write("build/out.txt", Canary);
        Write("secrets/key.txt", Canary);
        Write("docs/.plandexignore", "draft.md\n");
        Write("docs/draft.md", Canary);
        Write("docs/final.md", "final\n");
        Write(".git/config", "[core]\n");
        File.WriteAllBytes(Path.Combine(root, "data.bin"), [1, 2, 0, 3]);
        File.CreateSymbolicLink(Path.Combine(root, "outside.txt"), "/etc/hostname");
        File.CreateSymbolicLink(Path.Combine(root, "inside.txt"), Path.Combine(root, "README.md"));
        return root;
    }

    private async Task<Func<string[], Task<ProcessResult>>> CliAsync(string project)
    {
        var env = new Dictionary<string, string>
        {
            ["PLANDEX_CONFIG_DIR"] = TestEnv.NewWorkDir("cli"),
            ["PLANDEX_SERVER"] = $"127.0.0.1:{_w.Silos[0].GatewayPort}",
            ["PLANDEX_CLUSTER_ID"] = "test",
            ["XDG_CONFIG_HOME"] = TestEnv.NewWorkDir("xdg"),
            ["HOME"] = TestEnv.NewWorkDir("home"),
        };
        async Task<ProcessResult> Run(string[] args)
        {
            var r = await ProcessRunner.DotnetAsync(TestEnv.CliDll, args, env, workingDirectory: project);
            Assert.True(r.ExitCode == 0, $"plandex {string.Join(' ', args)}: {r.Stderr}");
            return r;
        }
        await Run(["sign-up", "--email", $"ctx{Guid.NewGuid():N}@example.com", "--name", "Ctx"]);
        await Run(["new"]);
        return Run;
    }

    [Fact]
    public async Task Load_sends_only_what_the_ignore_rules_allow_and_the_database_holds_no_ignored_byte()
    {
        var project = MakeProject();
        var cli = await CliAsync(project);
        var itemsBefore = await _w.Db.ScalarAsync<long>("SELECT count(*) FROM plandex_context_items"); // other tests' plans
        var load = await cli(["load", "-r", ".", "--verbose"]);
        Assert.Contains("loaded 7 file(s)", load.Stdout);
        Assert.Contains("skipped 5 ignored", load.Stdout);
        Assert.Contains("skipped 1 binary", load.Stdout);
        Assert.Contains("skipped 1 symlink(s) leading outside the project", load.Stdout);
        Assert.Contains("secrets  ignored by .gitignore/.plandexignore: .plandexignore:1:secrets/", load.Stdout);

        // The server holds exactly the allowed files, and none of their bodies holds an ignored file's canary.
        async Task<List<string>> StoredPathsAsync() =>
            (await cli(["ls"])).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Where(l => !l.Contains(" item(s), ")).Select(l => l.Split(' ', 2)[0]).ToList();
        string[] expected = [".gitignore", ".plandexignore", "README.md", "docs/.plandexignore", "docs/final.md", "inside.txt", "src/app.cs"];
        Assert.Equal(expected, await StoredPathsAsync());
        foreach (var path in expected) Assert.DoesNotContain(Canary, (await cli(["show", path])).Stdout);
        Assert.Equal(itemsBefore + 7, await _w.Db.ScalarAsync<long>("SELECT count(*) FROM plandex_context_items"));
        Assert.Equal(0, new KeyHygiene.CanaryScanner(Canary).Scan(await KeyHygiene.Evidence.PgDumpAsync(_w.Db)).Total);

        // --force reaches an ignored file only when it is named explicitly.
        await cli(["load", "-r", ".", "--force"]);
        Assert.Equal(expected, await StoredPathsAsync());
        await cli(["load", ".env", "--force"]);
        Assert.Contains(".env", await StoredPathsAsync());
        Assert.Contains(Canary, (await cli(["show", ".env"])).Stdout); // positive control: a loaded canary is found
        // Stored, yet encrypted at rest: the database holds no plaintext of it.
        Assert.Equal(0, new KeyHygiene.CanaryScanner(Canary).Scan(await KeyHygiene.Evidence.PgDumpAsync(_w.Db)).Total);
    }

    [Fact]
    public async Task Ls_update_show_and_rm()
    {
        var project = MakeProject();
        var cli = await CliAsync(project);
        await cli(["load", "README.md", "src/app.cs"]);
        var ls = await cli(["ls"]);
        Assert.Contains("README.md", ls.Stdout);
        Assert.Contains("2 item(s)", ls.Stdout);
        File.WriteAllText(Path.Combine(project, "src/app.cs"), "class App { int changed; }\n");
        Assert.Contains("updated 1 of 2 item(s)", (await cli(["update"])).Stdout);
        Assert.Equal("class App { int changed; }\n", (await cli(["show", "src/app.cs"])).Stdout);
        Assert.Contains("removed 1 item(s)", (await cli(["rm", "README.md"])).Stdout);
        Assert.Contains("1 item(s)", (await cli(["ls"])).Stdout);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc/passwd")]
    [InlineData("C:\\x")]
    [InlineData("c:/x")]
    [InlineData("a\0b")]
    [InlineData("a/../b")]
    [InlineData("./a")]
    [InlineData("")]
    [InlineData("\\\\host\\share")]
    [InlineData("LONG")]
    public async Task Hostile_paths_from_a_raw_client_are_refused_and_nothing_is_stored(string path)
    {
        if (path == "LONG") path = new string('a', 10 * 1024 * 1024);
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=1");
        var before = await _w.Db.SnapshotAsync();
        var e = await Assert.ThrowsAsync<InvalidRequestException>(() =>
            client.Plan(plan).LoadContext([new ContextUpload("ok.txt", "fine"), new ContextUpload(path, "x")]));
        Assert.StartsWith("context path", e.Message);
        Assert.True(e.Message.Length < 300);
        Assert.Equal(before, await _w.Db.SnapshotAsync());
    }

    [Fact]
    public async Task Rm_removes_all_the_named_items_or_none()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=1");
        await client.Plan(plan).LoadContext([new ContextUpload("a.md", "a"), new ContextUpload("b.md", "b")]);
        var before = await _w.Db.SnapshotAsync();
        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => client.Plan(plan).RemoveContext(["a.md", "typo.md"]));
        Assert.Equal("no context item 'typo.md' in this plan; nothing was removed", e.Message);
        Assert.Equal(before, await _w.Db.SnapshotAsync());
        Assert.Equal(2, await client.Plan(plan).RemoveContext(["a.md", "b.md", "a.md"])); // a path named twice is one item
        Assert.Empty(await client.Plan(plan).ContextItems());
    }

    [Fact]
    public async Task The_model_request_carries_the_plans_context()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=3");
        await client.Plan(plan).LoadContext([new ContextUpload("src/main.py", "print('context body 42')\n")]);
        await _w.TellAsync(client, plan, "explain");
        await StreamWorld.CollectAsync(client, plan);
        var request = _w.Stub.Requests[^1];
        Assert.Contains(request.Messages, m => m.Role == "system" && m.Content.Contains("src/main.py") && m.Content.Contains("print('context body 42')"));
        Assert.Equal("user", request.Messages[^1].Role);
    }
}

/// <summary>Per-plan limits, on a silo with small ones.</summary>
public sealed class ContextLimitTests
{
    [Fact]
    public async Task Item_size_and_item_count_limits_are_enforced_with_clear_errors()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "limits", new Dictionary<string, string>
        {
            ["Plans:MaxContextItems"] = "3",
            ["Plans:MaxContextItemBytes"] = "1000",
        });
        await using var anon = await silo.ConnectAsync();
        var account = await anon.SignUpAsync(new SignUpRequest("limits@example.com", "Limits"));
        await using var client = await silo.ConnectAsync(account.Token);
        var plan = (await client.Org(account.OrgId).CreatePlan("limits")).PlanId;

        var big = await Assert.ThrowsAsync<InvalidRequestException>(() => client.Plan(plan).LoadContext([new ContextUpload("big.txt", new string('x', 1001))]));
        Assert.Equal("context item 'big.txt' is 1001 bytes; the limit is 1000", big.Message);
        await client.Plan(plan).LoadContext([new ContextUpload("a", "1"), new ContextUpload("b", "2"), new ContextUpload("c", "3")]);
        var before = await db.SnapshotAsync();
        var many = await Assert.ThrowsAsync<InvalidRequestException>(() => client.Plan(plan).LoadContext([new ContextUpload("d", "4")]));
        Assert.Equal("a plan holds at most 3 context items; this load would make 4", many.Message);
        Assert.Equal(before, await db.SnapshotAsync());
        // Replacing an existing item does not count as a new one.
        await client.Plan(plan).LoadContext([new ContextUpload("a", "changed")]);
        Assert.Equal("changed", await client.Plan(plan).ShowContext("a"));
    }
}
