using System.Diagnostics;
using System.Net;
using System.Text;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Foundation;

/// <summary>
/// The README's first command, on a data folder where nothing was started before, and the quickstart's backup script
/// against it. One class: both start <c>silo/run.sh --instance 9</c>, whose ports are fixed, so they never run at once.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class RunCommandTests
{
    [Fact]
    public async Task Run_command_brings_a_silo_to_ready_and_ctrl_c_stops_it_and_its_postgres()
    {
        var data = TestEnv.NewWorkDir("quickstart");
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using (var p = await StartQuickstartAsync(data, log))
        {
            // The "silo ready ... dashboard URL" line is printed when the host has started, which can trail readiness.
            for (var i = 0; i < 50 && !log.Any(l => l.Contains("/dashboard")); i++) await Task.Delay(100);
            Assert.Contains(log, l => l.Contains("/dashboard"));
            Assert.True(File.Exists(Path.Combine(data, "pg", "data", "postmaster.pid")));
            StopQuickstart(p);
        }
        Assert.False(File.Exists(Path.Combine(data, "pg", "data", "postmaster.pid")), "PostgreSQL still running after Ctrl-C:\n" + string.Join('\n', log));
        Assert.Contains(log, l => l.Contains("stopping PostgreSQL"));
    }

    /// <summary>
    /// <c>silo/backup.sh</c> as an operator runs it: the dump is private and holds no plaintext (nor the epoch keys,
    /// which live outside the database); a restore into a new database, served by a silo with the live key store,
    /// gives back a plan deleted since the backup (until its epoch keys are destroyed: <c>BackupExpiryTests</c>).
    /// </summary>
    [Fact]
    public async Task Backup_script_dumps_only_ciphertext_and_its_restore_serves_a_plan_deleted_since()
    {
        var data = TestEnv.NewWorkDir("quickstart-backup");
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var canary = "backup canary " + Guid.NewGuid().ToString("N");
        using var p = await StartQuickstartAsync(data, log);
        try
        {
            SignInResult owner;
            Guid plan;
            await using (var anonymous = await ConnectAsync(new IPEndPoint(IPAddress.Loopback, 30008), "quickstart-test", null))
                owner = await anonymous.SignUpAsync(new SignUpRequest($"b{Guid.NewGuid():N}@example.com", "Backed Up"));
            await using (var c = await ConnectAsync(new IPEndPoint(IPAddress.Loopback, 30008), "quickstart-test", owner.Token))
            {
                plan = (await c.Org(owner.OrgId).CreatePlan("backed up")).PlanId;
                await c.Plan(plan).LoadContext([new ContextUpload("notes.md", canary)]);

                var dump = Path.Combine(TestEnv.NewWorkDir("backup-file"), "plandex.dump");
                var backup = await BackupScriptAsync(data, "backup", dump);
                Assert.True(backup.ExitCode == 0, backup.Stderr + backup.Stdout);
                Assert.Contains("the epoch key store is not in it", backup.Stdout);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dump));
                var bytes = await File.ReadAllBytesAsync(dump);
                Assert.True(bytes.Length > 10_000, $"dump of {bytes.Length} bytes");
                Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(canary)));
                Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes("backed up"))); // the plan's name is sealed too

                await c.Plan(plan).Delete(); // gone from the live database; the dump still holds its ciphertext

                var restore = await BackupScriptAsync(data, "restore", dump, "plandex_restored");
                Assert.True(restore.ExitCode == 0, restore.Stderr + restore.Stdout);
            }

            // The restored database, served by its own silo with the live epoch key store, gives the plan back.
            var pgPort = File.ReadAllText(Path.Combine(data, "pg-port")).Trim();
            var pgPassword = File.ReadAllText(Path.Combine(data, "pg-password")).Trim();
            await using var restored = await SiloProcess.StartAsync(
                $"Host=127.0.0.1;Port={pgPort};Username=plandex_admin;Password={pgPassword};Database=plandex_restored",
                Path.Combine(data, "keys"), "restored", clusterId: "restored");
            await using var r = await SiloProcess.ConnectAsync([restored], owner.Token, clusterId: "restored");
            Assert.Contains(await r.Org(owner.OrgId).Plans(), s => s.PlanId == plan && s.Name == "backed up");
            Assert.Equal(canary, await r.Plan(plan).ShowContext("notes.md"));
        }
        finally
        {
            StopQuickstart(p);
        }
    }

    private static async Task<Process> StartQuickstartAsync(string data, System.Collections.Concurrent.ConcurrentQueue<string> log)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(TestEnv.RepoRoot, "silo", "run.sh"));
        psi.ArgumentList.Add("--instance");
        psi.ArgumentList.Add("9"); // silo 11119, gateway 30008, HTTP 8088
        psi.Environment["PLANDEX_DATA_DIR"] = data;
        psi.Environment["PLANDEX_Cluster__ClusterId"] = "quickstart-test";
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        var ready = false;
        while (!ready && sw.Elapsed < TimeSpan.FromSeconds(150) && !p.HasExited)
        {
            try { ready = (await http.GetAsync("http://127.0.0.1:8088/health/ready")).IsSuccessStatusCode; }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (!ready) await Task.Delay(500);
        }
        if (!ready)
        {
            StopQuickstart(p);
            Assert.Fail("silo/run.sh did not reach ready:\n" + string.Join('\n', log));
        }
        return p;
    }

    /// <summary>Ctrl-C, as a user stops it; waits for the script (and the PostgreSQL it started) to finish.</summary>
    private static void StopQuickstart(Process p)
    {
        if (p.HasExited) return;
        SiloProcess.Interrupt(p.Id);
        if (!p.WaitForExit(60_000)) p.Kill(entireProcessTree: true);
        p.WaitForExit(); // flushes the redirected output
    }

    private static Task<ProcessResult> BackupScriptAsync(string data, params string[] args) =>
        ProcessRunner.RunAsync("bash", [Path.Combine(TestEnv.RepoRoot, "silo", "backup.sh"), .. args],
            new Dictionary<string, string> { ["PLANDEX_DATA_DIR"] = data });

    private static Task<PlandexClient> ConnectAsync(IPEndPoint gateway, string clusterId, string? token) =>
        PlandexClient.ConnectAsync(new PlandexClientOptions
        {
            Server = new ServerAddress([gateway]),
            ClusterId = clusterId,
            SessionToken = token,
            Tls = ServerTls.FromEnvironment(),
        });
}
