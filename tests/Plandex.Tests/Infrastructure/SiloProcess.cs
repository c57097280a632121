using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Plandex.Client.Connection;

namespace Plandex.Tests.Infrastructure;

/// <summary>
/// A real silo process (the built Plandex.Silo.dll) on free loopback ports, against a <see cref="TestDatabase"/>.
/// Captures every log line; has its own working and temp directories (scanned by the key-hygiene tests).
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private SiloProcess(Process process, string name, int gatewayPort, int siloPort, int httpPort, string workDir)
    {
        _process = process;
        Pid = process.Id;
        Name = name;
        GatewayPort = gatewayPort;
        SiloPort = siloPort;
        HttpPort = httpPort;
        WorkDir = workDir;
    }

    public string Name { get; }
    public int GatewayPort { get; }
    public int SiloPort { get; }
    public int HttpPort { get; }
    public string WorkDir { get; }
    /// <summary>The silo's own process (under <c>strace</c>, its child; see <c>traceConnectsTo</c>).</summary>
    public int Pid { get; private set; }
    public bool HasExited => _process.HasExited;
    public IPEndPoint Gateway => new(IPAddress.Loopback, GatewayPort);
    public IReadOnlyList<string> Lines => _lines.ToList();
    public string Log => string.Join('\n', _lines);

    public static Task<SiloProcess> StartAsync(TestDatabase db, string name = "silo",
        IReadOnlyDictionary<string, string>? settings = null, string clusterId = "test") =>
        StartAsync(db.AppConnectionString, db.KeyDirectory, name, settings, clusterId);

    /// <summary>
    /// A silo against any database and epoch key store (a restored backup's, for one). <paramref name="traceConnectsTo"/>:
    /// run it under <c>strace</c>, which writes every <c>connect()</c> of the process, from its start, to that file.
    /// </summary>
    public static async Task<SiloProcess> StartAsync(string connectionString, string keyDirectory, string name,
        IReadOnlyDictionary<string, string>? settings = null, string clusterId = "test", string? traceConnectsTo = null)
    {
        // Another test may grab a chosen port before the silo binds it: try again with fresh ports.
        for (var attempt = 1; ; attempt++)
        {
            try { return await StartOnceAsync(connectionString, keyDirectory, name, settings, clusterId, traceConnectsTo); }
            catch (InvalidOperationException e) when (attempt < 3 && e.Message.Contains("already in use", StringComparison.Ordinal)) { }
        }
    }

    private static async Task<SiloProcess> StartOnceAsync(string connectionString, string keyDirectory, string name,
        IReadOnlyDictionary<string, string>? settings, string clusterId, string? traceConnectsTo)
    {
        var gateway = Ports.Free();
        var siloPort = Ports.Free();
        var http = Ports.Free();
        var work = TestEnv.NewWorkDir(name);
        var tmp = Directory.CreateDirectory(Path.Combine(work, "tmp")).FullName;
        var psi = new ProcessStartInfo(traceConnectsTo is null ? "dotnet" : "strace")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = work,
        };
        if (traceConnectsTo is not null)
            foreach (var a in new[] { "-f", "-qq", "-e", "trace=connect", "-o", traceConnectsTo, "dotnet" }) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(TestEnv.SiloDll);
        var env = new Dictionary<string, string>
        {
            ["PLANDEX_Database__ConnectionString"] = connectionString,
            ["PLANDEX_Database__MaxPoolSize"] = "20",
            ["PLANDEX_Cluster__ClusterId"] = clusterId,
            ["PLANDEX_Cluster__SiloName"] = name,
            ["PLANDEX_Cluster__SiloPort"] = siloPort.ToString(),
            ["PLANDEX_Cluster__GatewayPort"] = gateway.ToString(),
            ["PLANDEX_Http__Port"] = http.ToString(),
            ["PLANDEX_Security__KeyDirectory"] = keyDirectory,
            ["PLANDEX_Accounts__OpenSignUp"] = "true",
            ["TMPDIR"] = tmp,
        };
        // "env:NAME" sets the environment variable NAME itself (not a Plandex setting).
        if (settings is not null)
            foreach (var (k, v) in settings)
                env[k.StartsWith("env:", StringComparison.Ordinal) ? k[4..] : k.StartsWith("PLANDEX_") ? k : "PLANDEX_" + k.Replace(":", "__")] = v;
        foreach (var (k, v) in env) psi.Environment[k] = v;

        var process = Process.Start(psi)!;
        var silo = new SiloProcess(process, name, gateway, siloPort, http, work);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) silo._lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) silo._lines.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (traceConnectsTo is not null) silo.Pid = await TracedChildAsync(process);
        await silo.WaitReadyAsync(TimeSpan.FromSeconds(60));
        return silo;
    }

    /// <summary>The process strace started: signals go to it, and strace ends when it does.</summary>
    private static async Task<int> TracedChildAsync(Process strace)
    {
        var children = $"/proc/{strace.Id}/task/{strace.Id}/children";
        for (var i = 0; i < 500; i++)
        {
            var text = File.Exists(children) ? (await File.ReadAllTextAsync(children)).Trim() : "";
            if (text.Length > 0) return int.Parse(text.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            if (strace.HasExited) break;
            await Task.Delay(10);
        }
        throw new InvalidOperationException("strace did not start the silo (is strace installed?)");
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (_process.HasExited) throw new InvalidOperationException($"silo {Name} exited with {_process.ExitCode}:\n{Log}");
            try
            {
                var r = await http.GetAsync($"http://127.0.0.1:{HttpPort}/health/ready");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"silo {Name} not ready after {timeout}:\n{Log}");
    }

    public async Task<string> GetAsync(string path)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return await http.GetStringAsync($"http://127.0.0.1:{HttpPort}{path}");
    }

    /// <summary>Sum of a Prometheus metric's samples on /metrics (0 when absent); counters may carry "_total".</summary>
    public async Task<double> MetricAsync(string name)
    {
        var text = await GetAsync("/metrics");
        bool Is(string l, string n) => l.StartsWith(n, StringComparison.Ordinal) && l.Length > n.Length && l[n.Length] is ' ' or '{';
        return text.Split('\n')
            .Where(l => Is(l, name) || Is(l, name + "_total"))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Sum();
    }

    public Task<PlandexClient> ConnectAsync(string? token = null) => ConnectAsync([this], token);

    public static async Task<PlandexClient> ConnectAsync(IEnumerable<SiloProcess> silos, string? token = null, string clusterId = "test",
        ServerTls? tls = null)
    {
        var list = silos.ToList();
        var options = new PlandexClientOptions
        {
            Server = new ServerAddress(list.Select(s => s.Gateway).ToList()),
            ClusterId = clusterId,
            SessionToken = token,
            Tls = tls ?? ServerTls.FromEnvironment(),
        };
        // Up to three tries of the client's 8 s: with the whole suite's silos on two cores, a silo that had just become
        // ready once took longer than one to hand a new client the cluster's manifest (ReconnectTests) and once longer
        // than two (AccountsWorld's first client, seventeenth session). The last failure says what each silo was doing.
        for (var attempt = 1; ; attempt++)
        {
            try { return await PlandexClient.ConnectAsync(options); }
            catch (Plandex.Client.Connection.ServerUnreachableException) when (attempt < 3) { }
            catch (Plandex.Client.Connection.ServerUnreachableException e)
            {
                var state = string.Join('\n', list.Select(s =>
                    $"silo {s.Name}: {(s.HasExited ? "exited" : "running")}; its last log lines:\n{string.Join('\n', s.Lines.TakeLast(40))}"));
                throw new InvalidOperationException($"{e.Message} (three tries)\n{state}", e);
            }
        }
    }

    /// <summary>kill -9: no goodbye to the cluster.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    /// <summary>
    /// Graceful shutdown, by SIGTERM (as an orchestrator stops a pod): a test run started from a shell's background
    /// job inherits SIGINT as ignored, and Ctrl-C then never reached the silo (each stop waited 30 s for the kill).
    /// </summary>
    public async Task StopAsync()
    {
        if (_process.HasExited) return;
        Signal(Pid, "-TERM");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Kill(); }
    }

    internal static void Interrupt(int pid) => Signal(pid, "-INT");

    /// <summary>kill(1): a process that exited a moment ago is no error, and its "No such process" stays out of the run's output.</summary>
    private static void Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, pid.ToString()]) { RedirectStandardError = true })!;
        kill.StandardError.ReadToEnd();
        kill.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }
}
