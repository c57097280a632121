using System.Diagnostics;
using System.Text.RegularExpressions;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Plandex.Tests.Foundation;

[Collection(ExclusiveCollection.Name)]
public sealed class SiloTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Persistent_grain_state_survives_a_silo_restart()
    {
        await using var db = await TestDatabase.CreateAsync();
        SignInResult account;
        await using (var silo = await SiloProcess.StartAsync(db, "restart-a"))
        {
            await using var client = await silo.ConnectAsync();
            account = await client.SignUpAsync(new SignUpRequest("restart@example.com", "Restart"));
        }
        await using var silo2 = await SiloProcess.StartAsync(db, "restart-b");
        await using var client2 = await silo2.ConnectAsync(account.Token);
        var me = await client2.Account(account.AccountId).WhoAmI();
        Assert.Equal("restart@example.com", me.Email);
        Assert.Equal(account.OrgId, Assert.Single(me.Orgs).OrgId);
    }

    [Fact]
    public async Task AdoNet_reminder_fires()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "reminders", new Dictionary<string, string>
        {
            ["Reminders:MinimumPeriod"] = "00:00:01",
            ["Retention:EpochPeriod"] = "00:00:02",
        });
        var sw = Stopwatch.StartNew();
        while (await silo.MetricAsync("plandex_retention_epoch_ticks") < 1)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "the epoch reminder did not fire within 30 s\n" + silo.Log);
            await Task.Delay(250);
        }
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM orleansreminderstable WHERE remindername = 'epoch'"));
        output.WriteLine($"first reminder tick after {sw.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Failover_after_kill_9_reactivates_the_grain_with_its_state()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var a = await SiloProcess.StartAsync(db, "failover-a");
        // Created while only silo A runs, so the account grain lives on A.
        SignInResult account;
        await using (var first = await a.ConnectAsync())
            account = await first.SignUpAsync(new SignUpRequest("failover@example.com", "Failover"));
        await using var b = await SiloProcess.StartAsync(db, "failover-b");
        await using var client = await SiloProcess.ConnectAsync([a, b], account.Token);
        Assert.Equal("failover@example.com", (await client.Account(account.AccountId).WhoAmI()).Email);

        a.Kill();
        var sw = Stopwatch.StartNew();
        AccountInfo? me = null;
        while (me is null)
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "no successful call within 30 s of the kill\n" + b.Log);
            try
            {
                me = await client.Account(account.AccountId).WhoAmI().WaitAsync(TimeSpan.FromSeconds(1));
            }
            catch (Exception e) when (e is not AccessDeniedException)
            {
                await Task.Delay(50);
            }
        }
        output.WriteLine($"kill -9 to first successful call: {sw.ElapsedMilliseconds} ms");
        Console.WriteLine($"[measure] failover kill -9 to first success: {sw.ElapsedMilliseconds} ms");
        Assert.Equal("failover@example.com", me.Email);
        Assert.Equal(account.OrgId, Assert.Single(me.Orgs).OrgId);
    }

    [Theory]
    [InlineData("PLANDEX_Database__ConnectionString", "", "Database:ConnectionString: is required")]
    [InlineData("PLANDEX_Database__ConnectionString", "Host=127.0.0.1;Port=1;Username=x;Password=y;Timeout=2", "Database:ConnectionString: cannot reach the database")]
    [InlineData("PLANDEX_Database__ConnectionString", "this is not=a;connection", "Database:ConnectionString: is malformed")]
    [InlineData("PLANDEX_Cluster__SiloPort", "70000", "Cluster:SiloPort: 70000 is not a port")]
    [InlineData("PLANDEX_Membership__ProbeTimeout", "soon", "Membership:ProbeTimeout: 'soon' is not a valid duration")]
    [InlineData("PLANDEX_Plans__WatchLease", "00:00:01", "Plans:WatchLease: must be at least 2 seconds")]
    [InlineData("PLANDEX_Providers__ReadySessions", "65", "Providers:ReadySessions: must be between 0 and 64")]
    [InlineData("PLANDEX_Providers__HostCacheLifetime", "02:00:00", "Providers:HostCacheLifetime: must be between 0 and 1 hour")]
    [InlineData("PLANDEX_Cluster__ListenOnAnyAddress", "true", "Tls:CertificateFile: is required when the silo listens beyond loopback")]
    [InlineData("PLANDEX_Tls__CertificateFile", "/nonexistent/silo.pem", "Tls:CertificateFile: '/nonexistent/silo.pem' does not exist")]
    [InlineData("PLANDEX_Tls__CertificateFile", "/etc/passwd", "Tls:CertificateFile: cannot load the certificate and its private key")]
    // .NET's configuration ignores keys nothing binds: a misspelt setting would run with its default and no word.
    [InlineData("PLANDEX_Providers__BatchWindowLoded", "00:00:00.050", "Providers:BatchWindowLoded: is not a setting (the Providers settings are AllowLoopback, ")]
    [InlineData("PLANDEX_Provider__BatchWindow", "00:00:00.050", "PLANDEX_Provider__BatchWindow: names no settings section (the sections are Cluster, ")]
    public async Task Bad_settings_exit_non_zero_with_one_line_naming_the_setting(string variable, string value, string expected)
    {
        var env = new Dictionary<string, string>
        {
            ["PLANDEX_Database__ConnectionString"] = TestEnv.PgApp,
            ["PLANDEX_Security__KeyDirectory"] = TestEnv.NewWorkDir("keys"),
            [variable] = value,
        };
        var r = await ProcessRunner.DotnetAsync(TestEnv.SiloDll, [], env, timeout: TimeSpan.FromSeconds(60));
        Assert.NotEqual(0, r.ExitCode);
        var line = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line);
        Assert.DoesNotContain("   at ", r.Stdout + r.Stderr);
    }

    [Fact]
    public async Task Every_setting_the_k8s_manifests_give_the_silo_is_one_it_has()
    {
        var names = Directory.GetFiles(Path.Combine(TestEnv.RepoRoot, "k8s"), "*.yaml")
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), @"name:\s*(PLANDEX_\w+)").Select(m => m.Groups[1].Value))
            .Distinct().ToList();
        Assert.True(names.Count >= 10 && names.Contains("PLANDEX_Database__ConnectionString"), "the manifests' settings were not found: " + string.Join(", ", names));

        // The silo refuses a setting it does not have before it reads any value, so with every manifest name set the
        // first error is about some value (here "x" where a boolean belongs), and never an unknown name.
        async Task<string> StartWith(Dictionary<string, string> env)
        {
            var r = await ProcessRunner.DotnetAsync(TestEnv.SiloDll, [], env, timeout: TimeSpan.FromSeconds(60));
            Assert.NotEqual(0, r.ExitCode);
            return Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        var env = names.ToDictionary(n => n, _ => "x");
        var line = await StartWith(env);
        Assert.DoesNotContain("is not a setting", line);
        Assert.DoesNotContain("names no settings section", line);
        Assert.StartsWith("plandex-silo: Cluster:", line);

        // Control: one misspelt name among them is what the silo names.
        env["PLANDEX_Cluster__ClusterIdd"] = "x";
        Assert.StartsWith("plandex-silo: Cluster:ClusterIdd: is not a setting", await StartWith(env));
    }

    [Fact]
    public async Task Unknown_option_and_port_in_use_are_one_line_errors()
    {
        var unknown = await ProcessRunner.DotnetAsync(TestEnv.SiloDll, ["--Cluster:Nope=1"]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unknown option '--Cluster:Nope'", unknown.Stderr);

        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        var port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        var env = new Dictionary<string, string>
        {
            ["PLANDEX_Database__ConnectionString"] = TestEnv.PgApp,
            ["PLANDEX_Security__KeyDirectory"] = TestEnv.NewWorkDir("keys"),
        };
        var r = await ProcessRunner.DotnetAsync(TestEnv.SiloDll, [$"--Cluster:GatewayPort={port}", $"--Http:Port={Ports.Free()}", $"--Cluster:SiloPort={Ports.Free()}"], env);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"Cluster:GatewayPort: port {port} is already in use", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stdout + r.Stderr);
    }

    [Fact]
    public async Task Health_metrics_and_dashboard_answer()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "http");
        Assert.Equal("Healthy", await silo.GetAsync("/health/live"));
        Assert.Equal("Healthy", await silo.GetAsync("/health/ready"));
        var metrics = await silo.GetAsync("/metrics");
        Assert.Contains("orleans_", metrics);
        Assert.Contains("plandex_sessions_active", metrics);
        Assert.Contains("dotnet_gc_collections", metrics); // the runtime's own meter
        Assert.Contains("<html", await silo.GetAsync("/dashboard/"), StringComparison.OrdinalIgnoreCase);
    }
}
