using System.Diagnostics;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Foundation;

/// <summary>The README's first command, on a data folder where nothing was started before.</summary>
public sealed class RunCommandTests
{
    [Fact]
    public async Task Run_command_brings_a_silo_to_ready_and_ctrl_c_stops_it_and_its_postgres()
    {
        var data = TestEnv.NewWorkDir("quickstart");
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(TestEnv.RepoRoot, "silo", "run.sh"));
        psi.ArgumentList.Add("--instance");
        psi.ArgumentList.Add("9");
        psi.Environment["PLANDEX_DATA_DIR"] = data;
        psi.Environment["PLANDEX_Cluster__ClusterId"] = "quickstart-test";
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
            var sw = Stopwatch.StartNew();
            var ready = false;
            while (!ready && sw.Elapsed < TimeSpan.FromSeconds(150) && !p.HasExited)
            {
                try { ready = (await http.GetAsync("http://127.0.0.1:8088/health/ready")).IsSuccessStatusCode; }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                if (!ready) await Task.Delay(500);
            }
            Assert.True(ready, "silo/run.sh did not reach ready:\n" + string.Join('\n', log));
            // The "silo ready ... dashboard URL" line is printed when the host has started, which can trail readiness.
            for (var i = 0; i < 50 && !log.Any(l => l.Contains("/dashboard")); i++) await Task.Delay(100);
            Assert.Contains(log, l => l.Contains("/dashboard"));
            Assert.True(File.Exists(Path.Combine(data, "pg", "data", "postmaster.pid")));
        }
        finally
        {
            SiloProcess.Interrupt(p.Id);
            if (!p.WaitForExit(60_000)) p.Kill(entireProcessTree: true);
            p.WaitForExit(); // flushes the redirected output
        }
        Assert.False(File.Exists(Path.Combine(data, "pg", "data", "postmaster.pid")), "PostgreSQL still running after Ctrl-C:\n" + string.Join('\n', log));
        Assert.Contains(log, l => l.Contains("stopping PostgreSQL"));
    }
}
