using System.Text.Json;
using System.Text.RegularExpressions;
using Plandex.Tests.Deletion;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Plandex.Tests.Accounts;

/// <summary>The `plandex` CLI's account and org commands against a real silo, each device a config directory.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class CliAccountTests(ITestOutputHelper output)
{
    private readonly ITestOutputHelper _output = output;

    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0700 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task Sign_up_invite_users_sign_in_code_sign_in_and_sign_out()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "cli-flow", new Dictionary<string, string> { ["Accounts:OpenSignUp"] = "true" });
        var owner = new Device(this, silo, "owner");
        var member = new Device(this, silo, "member");
        var laptop = new Device(this, silo, "laptop");

        var r = await owner.Ok("sign-up", "--email", "Owner@Example.com", "--name", "Olive Owner");
        Assert.Contains("signed up as owner@example.com", r.Stdout);
        owner.AssertSessionFileIsPrivate();

        r = await owner.Ok("whoami");
        Assert.Contains("Olive Owner <owner@example.com>", r.Stdout);
        Assert.Matches(@"org .+ as owner\s+\[current\]", r.Stdout);

        // A session talks to the server it signed in on: PLANDEX_SERVER naming another is not used, and the CLI says so.
        var elsewhere = await owner.RunWithoutServerOption(new Dictionary<string, string> { ["PLANDEX_SERVER"] = "127.0.0.1:1" }, "whoami");
        Assert.True(elsewhere.ExitCode == 0, elsewhere.Stderr);
        Assert.Contains("Olive Owner <owner@example.com>", elsewhere.Stdout);
        Assert.Equal($"plandex: note: using 127.0.0.1:{silo.GatewayPort}, the server this device signed in on, not PLANDEX_SERVER (127.0.0.1:1); --server overrides it",
            elsewhere.Stderr.Trim());
        var same = await owner.RunWithoutServerOption(new Dictionary<string, string> { ["PLANDEX_SERVER"] = $"127.0.0.1:{silo.GatewayPort}" }, "whoami");
        Assert.Equal((0, ""), (same.ExitCode, same.Stderr));

        r = await owner.Ok("invite", "member@example.com");
        var invite = CodeIn(r.Stdout);
        Assert.Contains("invited member@example.com as member", r.Stdout);

        r = await member.Ok("sign-up", "--email", "member@example.com", "--name", "Mia Member", "--invite", invite);
        Assert.Contains("signed up as member@example.com", r.Stdout);
        member.AssertSessionFileIsPrivate(notContaining: invite);

        // A session that cannot be kept is found before the server is asked: nothing is made, one line says why.
        var nowhere = new Device(this, silo, "nowhere");
        var unkept = await nowhere.Fails(new Dictionary<string, string> { ["PLANDEX_CONFIG_DIR"] = "/dev/null/plandex" },
            "sign-up", "--email", "nowhere@example.com", "--name", "No Where");
        Assert.StartsWith("plandex: cannot keep the session in /dev/null/plandex: ", unkept);
        await nowhere.Ok("sign-up", "--email", "nowhere@example.com", "--name", "No Where"); // the email was not taken

        // The invite is single use.
        var again = new Device(this, silo, "again");
        await again.Fails("sign-up", "--email", "member@example.com", "--name", "Mia Again", "--invite", invite);

        foreach (var device in new[] { owner, member })
        {
            r = await device.Ok("users");
            var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            Assert.Contains(lines, l => Regex.IsMatch(l, @"^owner@example\.com\s+Olive Owner\s+owner\s*$"));
            Assert.Contains(lines, l => Regex.IsMatch(l, @"^member@example\.com\s+Mia Member\s+member\s*$"));
        }

        // A member cannot remove the owner.
        var denied = await member.Fails("revoke", "owner@example.com");
        Assert.Contains("admin role", denied);

        r = await owner.Ok("sign-in-code");
        var signInCode = CodeIn(r.Stdout);
        r = await laptop.Ok("sign-in", "--email", "owner@example.com", "--code", signInCode);
        Assert.Contains("signed in as owner@example.com", r.Stdout);
        laptop.AssertSessionFileIsPrivate(notContaining: signInCode);
        Assert.NotEqual(owner.Token, laptop.Token);
        Assert.Contains("Olive Owner <owner@example.com>", (await laptop.Ok("whoami")).Stdout);

        // The code is single use, even on the device that just used it.
        var reused = await again.Fails("sign-in", "--email", "owner@example.com", "--code", signInCode);
        Assert.Contains("unknown, used or expired", reused);

        r = await laptop.Ok("sign-out");
        Assert.Contains("signed out", r.Stdout);
        Assert.False(File.Exists(laptop.SessionPath), "sign-out left the session file behind");
        var whoami = await laptop.Fails("whoami");
        Assert.Contains("not signed in", whoami);
        // The laptop's session was revoked server-side too, not just forgotten.
        Assert.Equal(1L, await db.ScalarAsync<long>(
            "SELECT count(*) FROM plandex_sessions WHERE revoked_at IS NOT NULL"));
        // Signing out one device leaves the other signed in.
        Assert.Contains("Olive Owner", (await owner.Ok("whoami")).Stdout);

        // sign-out --all on one device revokes the session of another device, which then gets one clear line.
        r = await owner.Ok("sign-in-code");
        await laptop.Ok("sign-in", "--email", "owner@example.com", "--code", CodeIn(r.Stdout));
        r = await owner.Ok("sign-out", "--all");
        Assert.Contains("revoked 2 session(s)", r.Stdout);
        var revoked = await laptop.Fails("whoami");
        Assert.Contains("your session is invalid, expired or revoked", revoked);
        _output.WriteLine($"{_runs} CLI runs");
    }

    [Fact]
    public async Task An_existing_account_joins_a_second_org_and_switches_between_its_orgs()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "cli-join", new Dictionary<string, string> { ["Accounts:OpenSignUp"] = "true" });
        var ana = new Device(this, silo, "ana");
        var ben = new Device(this, silo, "ben");
        await ana.Ok("sign-up", "--email", "ana@example.com", "--name", "Ana");
        await ben.Ok("sign-up", "--email", "ben@example.com", "--name", "Ben");
        await ben.Ok("new", "--name", "ben-plan");

        // Ben invites Ana, who has an account: the invite says how to accept it. The refusals around a join (another
        // email, a used code, an org deleted meanwhile) are in JoinOrgTests and HostileClientTests.
        var r = await ben.Ok("invite", "ana@example.com");
        var invite = CodeIn(r.Stdout);
        Assert.Contains($"plandex join {invite}", r.Stdout);
        r = await ana.Ok("join", invite);
        Assert.Equal("joined Ben's org as member; it is now the current org", r.Stdout.Trim());
        Assert.Contains("ben-plan", (await ana.Ok("plans")).Stdout);
        // Ben makes her an admin (who may change roles is OrgRoleTests' and HostileClientTests' part).
        Assert.Equal("ana@example.com is now admin (was member)", (await ben.Ok("set-role", "Ana@Example.com", "admin")).Stdout.Trim());
        Assert.Equal("ana@example.com is already admin", (await ben.Ok("set-role", "ana@example.com", "admin")).Stdout.Trim());
        Assert.Equal("plandex: role must be member, admin or owner", await ben.Fails("set-role", "ana@example.com", "boss"));
        Assert.Equal("plandex: carl@example.com is not a member of this org", await ben.Fails("set-role", "carl@example.com", "member"));
        Assert.Equal("plandex: the org's last owner cannot step down: make another member owner first",
            await ben.Fails("set-role", "ben@example.com", "admin"));
        var orgs = (await ana.Ok("org")).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, orgs.Length);
        Assert.Matches(@"^  Ana's org\s+\S+\s+owner$", orgs[0]);
        Assert.Matches(@"^\* Ben's org\s+\S+\s+admin$", orgs[1]);

        // Switching back: the other org's plans, and no current plan carried over from the org left.
        await ana.Ok("cd", "ben-plan");
        Assert.Equal("current org: Ana's org", (await ana.Ok("org", "Ana's org")).Stdout.Trim());
        Assert.Equal("", (await ana.Ok("plans")).Stdout);
        Assert.Equal("plandex: you belong to no org named 'Carl's org'", await ana.Fails("org", "Carl's org"));

        // Leaving the current org makes the next one current; the last owner cannot leave.
        await ana.Ok("org", "Ben's org");
        Assert.Equal("left Ben's org; the current org is Ana's org", (await ana.Ok("leave", "Ben's org")).Stdout.Trim());
        Assert.Matches(@"^\* Ana's org\s+\S+\s+owner$", (await ana.Ok("org")).Stdout.Trim());
        Assert.Equal("plandex: cannot remove the org's last owner", await ana.Fails("leave", "Ana's org"));
    }

    [Fact]
    public async Task Bootstrap_secret_admits_exactly_one_first_owner_when_sign_up_is_closed()
    {
        const string secret = "bootstrap-secret-for-tests-0123456789";
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "cli-boot", new Dictionary<string, string>
        {
            ["Accounts:OpenSignUp"] = "false",
            ["Accounts:BootstrapSecret"] = secret,
        });
        var first = new Device(this, silo, "first");
        var second = new Device(this, silo, "second");

        // Closed sign-up, no invite, no secret: refused, nothing persisted.
        var before = await db.SnapshotAsync();
        var e = await first.Fails("sign-up", "--email", "first@example.com", "--name", "First");
        Assert.Contains("sign-up needs an invite code", e);
        Refusals.AssertUnchanged(before, await db.SnapshotAsync());
        Assert.False(File.Exists(first.SessionPath));

        // A wrong secret: refused; only the failure counter changes.
        before = await db.SnapshotAsync();
        e = await first.Fails("sign-up", "--email", "first@example.com", "--name", "First", "--bootstrap-secret", "wrong-secret-0123456789");
        Assert.Contains("bootstrap secret is wrong", e);
        Refusals.AssertUnchanged(before, await db.SnapshotAsync(), Refusals.FailureCounters);

        var r = await first.Ok("sign-up", "--email", "first@example.com", "--name", "First", "--bootstrap-secret", secret);
        Assert.Contains("signed up as first@example.com", r.Stdout);
        first.AssertSessionFileIsPrivate(notContaining: secret);
        Assert.Matches(@"as owner", (await first.Ok("whoami")).Stdout);

        // A second bootstrap sign-up is refused: with the option, and with the environment variable.
        before = await db.SnapshotAsync();
        e = await second.Fails("sign-up", "--email", "second@example.com", "--name", "Second", "--bootstrap-secret", secret);
        Assert.Contains("already has its first owner", e);
        Refusals.AssertUnchanged(before, await db.SnapshotAsync());
        e = await second.Fails(new Dictionary<string, string> { ["PLANDEX_BOOTSTRAP_SECRET"] = secret },
            "sign-up", "--email", "second@example.com", "--name", "Second");
        Assert.Contains("already has its first owner", e);
        Refusals.AssertUnchanged(before, await db.SnapshotAsync());
        // Not even the first owner's email again.
        e = await second.Fails("sign-up", "--email", "first@example.com", "--name", "First Again", "--bootstrap-secret", secret);
        Refusals.AssertUnchanged(before, await db.SnapshotAsync());
        Assert.False(File.Exists(second.SessionPath));

        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index"));
        Assert.DoesNotContain(secret, silo.Log);
    }

    /// <summary>
    /// A plan whose stored data cannot be read (its wrapped data key damaged): the CLI says so in one line, the
    /// real silo logs it without a stack trace, and the account can still be deleted, that plan with it.
    /// </summary>
    [Fact]
    public async Task A_plan_that_cannot_be_read_gives_one_line_errors_and_does_not_block_deleting_the_account()
    {
        await using var db = await TestDatabase.CreateAsync();
        var settings = new Dictionary<string, string> { ["Accounts:OpenSignUp"] = "true" };
        var project = TestEnv.NewWorkDir("damaged-project");
        await File.WriteAllTextAsync(Path.Combine(project, "notes.md"), "notes kept in the plan\n");
        Device device;
        await using (var first = await SiloProcess.StartAsync(db, "cli-damaged-1", settings))
        {
            device = new Device(this, first, "damaged") { WorkingDirectory = project };
            await device.Ok("sign-up", "--email", "dee@example.com", "--name", "Dee");
            await device.Ok("new", "--name", "kept");
            await device.Ok("load", "notes.md");
            await device.Ok("new", "--name", "damaged");
        }
        var damaged = JsonDocument.Parse(File.ReadAllText(device.SessionPath)).RootElement.GetProperty("CurrentPlan").GetGuid();
        await DataKeys.DamageAsync(db, damaged);

        // A fresh silo process: nothing cached, so the damaged plan cannot be opened.
        await using var second = await SiloProcess.StartAsync(db, "cli-damaged-2", settings);
        device = device.On(second);
        const string Unreadable = "plandex: the server cannot read this data: it is damaged or its key is gone (its operator can see which in the silo's log)";
        Assert.Equal($"plandex: plan {damaged.ToString("N")[..8]} cannot be read: its stored state or its data key is damaged (its operator can restore the row from a backup)",
            await device.Fails("current")); // the plan's grain cannot activate: the server names it
        Assert.Contains("(unreadable plan", (await device.Ok("plans")).Stdout); // the org works around it
        // A readable plan with one damaged context item: the grain method itself meets the damage.
        await device.Ok("cd", "kept");
        await db.ExecAsync("UPDATE plandex_context_items SET body = set_byte(body, 20, get_byte(body, 20) # 1)");
        Assert.Equal(Unreadable, await device.Fails("show", "notes.md"));
        // The database refusing a write: one line naming the plan (Orleans' CodecNotFoundException reached the CLI before).
        var kept = JsonDocument.Parse(File.ReadAllText(device.SessionPath)).RootElement.GetProperty("CurrentPlan").GetGuid();
        await db.ExecAsync("""
            CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
            CREATE TRIGGER test_refuse BEFORE INSERT OR UPDATE ON plandex_context_items FOR EACH ROW EXECUTE FUNCTION test_refuse();
            """);
        Assert.Equal($"plandex: plan {kept.ToString("N")[..8]}: the database failed (its operator can see why in the silo's log)", await device.Fails("load", "notes.md"));
        await db.ExecAsync("DROP TRIGGER test_refuse ON plandex_context_items");
        // delete-plan reaches the unreadable plan through its org.
        Assert.Contains("deleted plan (unreadable plan", (await device.Ok("delete-plan", damaged.ToString(), "--yes")).Stdout);
        Assert.DoesNotContain("(unreadable plan", (await device.Ok("plans")).Stdout);

        var r = await device.Ok("delete-account", "--yes");
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_data_keys"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE graintypestring IN ('plan', 'account', 'org')"));
        Assert.Equal(4L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_deletion_receipts"));

        // The silo's own console log (default level) names the failure in one line per entry, with no stack trace.
        Assert.Contains(second.Lines, l => l.Contains("AuthenticationTagMismatchException"));
        Assert.Contains(second.Lines, l => l.Contains("the database failed (PostgresException: P0001: refused by the test)"));
        Assert.DoesNotContain("   at ", second.Log);
        Assert.DoesNotContain("Exc level", second.Log);
    }

    /// <summary>
    /// Promise 3 as a user sees it, in real time (2-second epochs, a 6-second window, a real silo process): a deleted
    /// plan's receipt is marked purged once its epoch key is gone; while another account's damaged key holds the
    /// epochs, a later deletion's receipt is shown past due and not purged, and the silo warns.
    /// </summary>
    [Fact]
    public async Task Deletions_show_purged_receipts_and_one_held_past_its_due_time()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "cli-held", new Dictionary<string, string>
        {
            ["Accounts:OpenSignUp"] = "true",
            ["Retention:EpochPeriod"] = "00:00:02",
            ["Retention:Window"] = "00:00:06",
            ["Reminders:MinimumPeriod"] = "00:00:01",
        });
        var owner = new Device(this, silo, "held-owner");
        await owner.Ok("sign-up", "--email", "hal@example.com", "--name", "Hal");
        await owner.Ok("new", "--name", "first");
        await owner.Ok("delete-plan", "--yes");
        await Poll.UntilAsync(async () => (await owner.Ok("deletions")).Stdout.Contains("  purged 2"), TimeSpan.FromSeconds(30), () => "never purged:\n" + silo.Log);

        var other = new Device(this, silo, "held-other");
        await other.Ok("sign-up", "--email", "oz@example.com", "--name", "Oz");
        var otherId = JsonDocument.Parse(File.ReadAllText(other.SessionPath)).RootElement.GetProperty("AccountId").GetGuid();
        await DataKeys.DamageAsync(db, otherId);
        await owner.Ok("new", "--name", "second");
        var deleted = (await owner.Ok("delete-plan", "--yes")).Stdout;
        var receipt = Regex.Match(deleted, "receipt ([0-9a-f-]{36})").Groups[1].Value;
        Assert.NotEqual("", receipt);

        string Line(ProcessResult r) => r.Stdout.Split('\n').Single(l => l.StartsWith(receipt));
        await Poll.UntilAsync(async () => Line(await owner.Ok("deletions")).Contains("PAST DUE: not purged yet"), TimeSpan.FromSeconds(30),
            () => "the held receipt was never shown past due:\n" + silo.Log);
        Assert.DoesNotContain("  purged 2", Line(await owner.Ok("deletions")));
        Assert.Contains(silo.Lines, l => l.Contains("retention: epoch key") && l.Contains("is past the") && l.Contains(otherId.ToString()));
        Assert.Contains(silo.Lines, l => l.Contains(" warn ") && l.Contains("could not be unwrapped"));

        // The alert rules ops get (k8s/alerts.yaml) name metrics this silo really exports, and both have counted.
        var metrics = await silo.GetAsync("/metrics");
        var named = Regex.Matches(File.ReadAllText(Path.Combine(TestEnv.RepoRoot, "k8s", "alerts.yaml")), @"\bplandex_[a-z_]+").Select(m => m.Value).Distinct().ToList();
        Assert.Equal(2, named.Count);
        foreach (var metric in named)
        {
            var sample = Regex.Match(metrics, $@"^{metric}(?:{{[^}}]*}})? (\S+)", RegexOptions.Multiline);
            Assert.True(sample.Success, $"{metric} is not in /metrics");
            Assert.True(double.Parse(sample.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 1, $"{metric} = {sample.Groups[1].Value}");
        }
    }

    private int _runs;

    private static string CodeIn(string stdout)
    {
        var m = CodePattern().Match(stdout);
        Assert.True(m.Success, "no code in: " + stdout);
        return m.Value;
    }

    [GeneratedRegex(@"\b[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}\b")]
    private static partial Regex CodePattern();

    /// <summary>One device: its own config directory (not created yet: the CLI must create it 0700).</summary>
    private sealed class Device(CliAccountTests t, SiloProcess silo, string name)
    {
        public string ConfigDir { get; private init; } = Path.Combine(TestEnv.NewWorkDir("cli-" + name), "config");

        /// <summary>The same device (config directory, session) talking to another silo of the cluster.</summary>
        public Device On(SiloProcess other) => new(t, other, name) { ConfigDir = ConfigDir, WorkingDirectory = WorkingDirectory };

        /// <summary>Where the CLI runs (a project directory, for context commands); the test's own by default.</summary>
        public string? WorkingDirectory { get; init; }
        public string SessionPath => Path.Combine(ConfigDir, "session.json");

        public string Token => JsonDocument.Parse(File.ReadAllText(SessionPath)).RootElement.GetProperty("Token").GetString()!;

        public Task<ProcessResult> Run(IReadOnlyDictionary<string, string>? extraEnv, params string[] args) =>
            RunCore(extraEnv, [.. args, "--server", $"127.0.0.1:{silo.GatewayPort}"]);

        /// <summary>Without <c>--server</c>: the CLI picks the server itself (the session's, else PLANDEX_SERVER).</summary>
        public Task<ProcessResult> RunWithoutServerOption(IReadOnlyDictionary<string, string>? extraEnv, params string[] args) =>
            RunCore(extraEnv, args);

        private async Task<ProcessResult> RunCore(IReadOnlyDictionary<string, string>? extraEnv, string[] args)
        {
            var env = new Dictionary<string, string>
            {
                ["PLANDEX_CONFIG_DIR"] = ConfigDir,
                ["PLANDEX_CLUSTER_ID"] = "test",
                ["PLANDEX_BOOTSTRAP_SECRET"] = "",
            };
            if (extraEnv is not null) foreach (var (k, v) in extraEnv) env[k] = v;
            var r = await ProcessRunner.DotnetAsync(TestEnv.CliDll, args, env, WorkingDirectory);
            Interlocked.Increment(ref t._runs);
            t._output.WriteLine($"[{name}] plandex {string.Join(' ', args)} -> {r.ExitCode}\n{r.Stdout}{r.Stderr}");
            return r;
        }

        public async Task<ProcessResult> Ok(params string[] args)
        {
            var r = await Run(null, args);
            Assert.True(r.ExitCode == 0, $"plandex {string.Join(' ', args)} exited {r.ExitCode}: {r.Stderr}{r.Stdout}");
            Assert.Equal("", r.Stderr);
            return r;
        }

        public Task<string> Fails(params string[] args) => Fails(null, args);

        /// <summary>Exit code 1 and exactly one line on stderr, "plandex: ...", no stack trace.</summary>
        public async Task<string> Fails(IReadOnlyDictionary<string, string>? extraEnv, params string[] args)
        {
            var r = await Run(extraEnv, args);
            Assert.True(r.ExitCode == 1, $"plandex {string.Join(' ', args)} exited {r.ExitCode}, expected 1: {r.Stderr}{r.Stdout}");
            var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("plandex: ", line);
            Assert.DoesNotContain("   at ", r.Stdout + r.Stderr);
            Assert.DoesNotContain("Exception", r.Stdout + r.Stderr);
            return line;
        }

        /// <summary>0600 file in a 0700 directory; only the known fields; the token is the only secret in it.</summary>
        public void AssertSessionFileIsPrivate(string? notContaining = null)
        {
            Assert.True(File.Exists(SessionPath), "no session file at " + SessionPath);
            Assert.Equal(Mode0600, File.GetUnixFileMode(SessionPath));
            Assert.Equal(Mode0700, File.GetUnixFileMode(ConfigDir));
            Assert.Equal(["session.json"], Directory.GetFiles(ConfigDir).Select(Path.GetFileName));
            var text = File.ReadAllText(SessionPath);
            using var json = JsonDocument.Parse(text);
            var names = json.RootElement.EnumerateObject().Select(p => p.Name).ToHashSet();
            Assert.Subset(new HashSet<string> { "Server", "Token", "AccountId", "OrgId", "Email", "CurrentPlan" }, names);
            Assert.StartsWith("pdx_", json.RootElement.GetProperty("Token").GetString());
            if (notContaining is not null)
            {
                Assert.DoesNotContain(notContaining, text, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain(notContaining.Replace("-", ""), text, StringComparison.OrdinalIgnoreCase);
            }
        }
    }
}
