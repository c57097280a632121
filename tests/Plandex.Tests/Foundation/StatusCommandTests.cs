using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Foundation;

/// <summary><c>plandex status</c> through the project's own status grain, and an unreachable server.</summary>
public sealed class StatusCommandTests
{
    [Fact]
    public async Task Status_lists_the_silos_and_an_unreachable_server_is_one_line_exit_1()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "status-silo");
        var env = new Dictionary<string, string> { ["PLANDEX_CLUSTER_ID"] = "test", ["PLANDEX_CONFIG_DIR"] = TestEnv.NewWorkDir("cli") };
        var ok = await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["status", "--server", $"127.0.0.1:{silo.GatewayPort}"], env);
        Assert.True(ok.ExitCode == 0, ok.Stderr);
        Assert.Contains("1 active silo(s)", ok.Stdout);
        Assert.Contains("status-silo", ok.Stdout);

        var down = await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["status", "--server", $"127.0.0.1:{Ports.Free()}"], env);
        Assert.Equal(1, down.ExitCode);
        var line = Assert.Single(down.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("plandex: cannot reach the Plandex server at 127.0.0.1:", line);
        Assert.Equal("", down.Stdout);

        var badTls = await ProcessRunner.DotnetAsync(TestEnv.CliDll, ["status", "--server", $"127.0.0.1:{silo.GatewayPort}"],
            new Dictionary<string, string>(env) { ["PLANDEX_TLS"] = "yes" });
        Assert.Equal(1, badTls.ExitCode);
        Assert.Equal("plandex: PLANDEX_TLS must be on, off or auto, not 'yes'", Assert.Single(badTls.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
