using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;

namespace Plandex.Benchmarks;

/// <summary>
/// Everything the stream benchmark runs against, started by itself and removed on dispose: a throwaway PostgreSQL
/// in a temp dir (as the postgres OS user when root), the migrated schema, one Release silo process and the
/// provider stub as its own process. Ctrl-C / SIGTERM / normal exit all go through <see cref="DisposeAsync"/>.
/// </summary>
internal sealed partial class StreamHarness : IAsyncDisposable
{
    private readonly List<Process> _processes = [];
    private string? _pgDir;
    private string? _pgBin;
    private int _disposed;

    public required string Root { get; init; }
    public string Work { get; private set; } = "";
    public int SiloGatewayPort { get; private set; }
    public int SiloHttpPort { get; private set; }
    public Process Silo { get; private set; } = null!;
    public Process Stub { get; private set; } = null!;
    public Uri StubBase { get; private set; } = null!;
    public string ClusterId { get; } = "bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
    public string SiloLog => Path.Combine(Work, "silo.log");
    /// <summary>Admin connection to the benchmark's database and the silo's key directory (retention benchmark).</summary>
    public string ConnectionString { get; private set; } = "";
    public string KeyDirectory { get; private set; } = "";

    public static string FindRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Plandex.Actors.sln"))) return d.FullName;
        }
        throw new InvalidOperationException("run from inside the repository (Plandex.Actors.sln not found)");
    }

    /// <summary>With <c>tls</c>: the certificate the stub serves (the silo trusts it through SSL_CERT_FILE).</summary>
    public X509Certificate2? StubCertificate { get; private set; }

    public async Task StartAsync(bool build, int? maxPoolSize, IReadOnlyDictionary<string, string> siloSettings, bool tls = false)
    {
        Work = Directory.CreateTempSubdirectory("plandex-bench.").FullName;
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the stream benchmark runs on Linux (/proc, PostgreSQL helpers)");
        File.SetUnixFileMode(Work, (UnixFileMode)Convert.ToInt32("755", 8)); // the postgres OS user must reach pg/
        if (build)
        {
            Log("build silo + provider stub (Release)");
            await RunAsync("dotnet", ["build", Path.Combine(Root, "silo/Plandex.Silo.csproj"), "-c", "Release", "-v", "q", "-nologo"]);
            await RunAsync("dotnet", ["build", Path.Combine(Root, "tests/Plandex.ProviderStub/Plandex.ProviderStub.csproj"), "-c", "Release", "-v", "q", "-nologo"]);
        }

        // PostgreSQL through the project's own helpers (they handle root -> postgres user).
        _pgDir = Path.Combine(Work, "pg");
        var pgPort = FreePort();
        var pw = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var script = Path.Combine(Root, "silo/scripts/postgres.sh");
        var output = await RunAsync("bash", ["-c",
            $". '{script}' && pg_find_bin && pg_init \"$1\" \"$2\" && pg_start \"$1\" \"$3\" \"-c fsync=off -c synchronous_commit=off -c full_page_writes=off\" && echo \"PG_BIN=$PG_BIN\"",
            "pg", _pgDir, pw, pgPort.ToString(CultureInfo.InvariantCulture)]);
        _pgBin = output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("PG_BIN=", StringComparison.Ordinal))["PG_BIN=".Length..];
        Log($"PostgreSQL on 127.0.0.1:{pgPort} (max_connections=300, fsync off) in {_pgDir}");
        var conn = $"Host=127.0.0.1;Port={pgPort};Username=plandex_admin;Password={pw};Database=postgres";

        var siloDll = Path.Combine(Root, "silo/bin/Release/net10.0/Plandex.Silo.dll");
        var keys = Directory.CreateDirectory(Path.Combine(Work, "keys")).FullName;
        ConnectionString = conn;
        KeyDirectory = keys;
        SiloGatewayPort = FreePort();
        SiloHttpPort = FreePort();
        var env = new Dictionary<string, string>
        {
            ["PLANDEX_Database__ConnectionString"] = conn,
            ["PLANDEX_Cluster__ClusterId"] = ClusterId,
            ["PLANDEX_Cluster__SiloName"] = "bench-silo",
            ["PLANDEX_Cluster__SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture),
            ["PLANDEX_Cluster__GatewayPort"] = SiloGatewayPort.ToString(CultureInfo.InvariantCulture),
            ["PLANDEX_Http__Port"] = SiloHttpPort.ToString(CultureInfo.InvariantCulture),
            ["PLANDEX_Security__KeyDirectory"] = keys,
            ["PLANDEX_Accounts__OpenSignUp"] = "true",
            ["PLANDEX_Providers__AllowLoopback"] = "true",
            ["TMPDIR"] = Directory.CreateDirectory(Path.Combine(Work, "tmp")).FullName,
        };
        if (maxPoolSize is { } pool) env["PLANDEX_Database__MaxPoolSize"] = pool.ToString(CultureInfo.InvariantCulture);
        foreach (var (k, v) in siloSettings) env["PLANDEX_" + k.Replace(":", "__")] = v;
        // Experiments with the silo's runtime alone (GC knobs and the like): BENCH_SILO_DOTNET_GCgen0size=... reaches
        // only the silo as DOTNET_GCgen0size, not the stub or this driver.
        foreach (var (k, v) in Prefixed("BENCH_SILO_")) env[k] = v;
        string[] stubTls = [];
        if (tls)
        {
            // A self-signed certificate for 127.0.0.1: the stub serves it, the silo trusts it alone.
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=plandex-bench-provider", key, HashAlgorithmName.SHA256);
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            using var made = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
            var pfxPath = Path.Combine(Work, "stub.pfx");
            await File.WriteAllBytesAsync(pfxPath, made.Export(X509ContentType.Pkcs12));
            var pemPath = Path.Combine(Work, "stub-root.pem");
            await File.WriteAllTextAsync(pemPath, made.ExportCertificatePem() + "\n");
            StubCertificate = X509CertificateLoader.LoadCertificate(made.RawData);
            env["SSL_CERT_FILE"] = pemPath;
            stubTls = ["--tls-pfx", pfxPath];
        }
        Log("migrate");
        await RunAsync("dotnet", [siloDll, "migrate"], env);

        Log("start silo");
        Silo = StartLogged("dotnet", [siloDll], env, SiloLog);
        await WaitReadyAsync(TimeSpan.FromSeconds(90));

        Log("start provider stub (own process)");
        var stubDll = Path.Combine(Root, "tests/Plandex.ProviderStub/bin/Release/net10.0/Plandex.ProviderStub.dll");
        var stubLog = Path.Combine(Work, "stub.log");
        // The same for the stub's runtime alone (BENCH_STUB_DOTNET_...).
        Stub = StartLogged("dotnet", [stubDll, "--port", "0", .. stubTls], Prefixed("BENCH_STUB_"), stubLog);
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var text = File.Exists(stubLog) ? await File.ReadAllTextAsync(stubLog) : "";
            var m = ListeningRegex().Match(text);
            if (m.Success) { StubBase = new Uri(m.Groups[1].Value + "/"); break; }
            if (Stub.HasExited || sw.Elapsed > TimeSpan.FromSeconds(30)) throw new InvalidOperationException("provider stub did not start:\n" + text);
            await Task.Delay(100);
        }
        Log($"silo gateway 127.0.0.1:{SiloGatewayPort} (pid {Silo.Id}), stub {StubBase} (pid {Stub.Id})");
    }

    /// <summary>This driver's environment variables named <paramref name="prefix"/>X, as X: settings for one child process.</summary>
    private static Dictionary<string, string> Prefixed(string prefix)
    {
        var found = new Dictionary<string, string>();
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string name && name.StartsWith(prefix, StringComparison.Ordinal) && e.Value is string value)
                found[name[prefix.Length..]] = value;
        return found;
    }

    [GeneratedRegex(@"listening on (https?://[0-9.:]+)")]
    private static partial Regex ListeningRegex();

    private Process StartLogged(string file, string[] args, IReadOnlyDictionary<string, string> env, string logPath)
    {
        // exec keeps the pid: /proc/<pid> is the dotnet process itself.
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false, WorkingDirectory = Work };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("log=$1; shift; exec \"$@\" >\"$log\" 2>&1");
        psi.ArgumentList.Add("run");
        psi.ArgumentList.Add(logPath);
        psi.ArgumentList.Add(file);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        var p = Process.Start(psi)!;
        _processes.Add(p);
        return p;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (Silo.HasExited) throw new InvalidOperationException($"silo exited with {Silo.ExitCode}:\n{Tail(SiloLog)}");
            try
            {
                var r = await http.GetAsync($"http://127.0.0.1:{SiloHttpPort}/health/ready");
                if (r.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException("silo not ready:\n" + Tail(SiloLog));
    }

    public async Task<double> MetricAsync(string name) => (await MetricsAsync()).Sum(name);

    /// <summary>One scrape of the silo's metrics, to read several values from.</summary>
    public async Task<MetricsPage> MetricsAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return new MetricsPage(await http.GetStringAsync($"http://127.0.0.1:{SiloHttpPort}/metrics"));
    }

    public sealed class MetricsPage(string text)
    {
        private readonly string[] _lines = text.Split('\n');

        /// <summary>The sum of a metric's series (those whose labels contain <paramref name="label"/>, when given).</summary>
        public double Sum(string name, string? label = null)
        {
            bool Is(string l, string n) => l.StartsWith(n, StringComparison.Ordinal) && l.Length > n.Length && l[n.Length] is ' ' or '{'
                && (label is null || l.Contains(label, StringComparison.Ordinal));
            return _lines.Where(l => Is(l, name) || Is(l, name + "_total"))
                .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)).Sum();
        }
    }

    /// <summary>VmRSS of a process in bytes.</summary>
    public static long Rss(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return 0;
    }

    /// <summary>utime+stime of a process in seconds.</summary>
    public static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    public static string LoadAverage() => File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b);

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(40)) : "(no log)";

    private static async Task<string> RunAsync(string file, string[] args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args.Take(2))} failed ({p.ExitCode}):\n{await stdout}\n{await stderr}");
        return await stdout;
    }

    public static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        foreach (var p in _processes)
        {
            try
            {
                if (p.HasExited) continue;
                using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)])) kill.WaitForExit();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
                try { await p.WaitForExitAsync(cts.Token); }
                catch (OperationCanceledException) { p.Kill(entireProcessTree: true); }
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception) { }
        }
        if (_pgDir is not null && _pgBin is not null && File.Exists(Path.Combine(_pgDir, "data/postmaster.pid")))
        {
            var psi = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "-c", $". '{Path.Combine(Root, "silo/scripts/postgres.sh")}' && PG_BIN='{_pgBin}' && pg_stop \"$1\"", "pg", _pgDir })
                psi.ArgumentList.Add(a);
            using var stop = Process.Start(psi)!;
            stop.WaitForExit(30_000);
        }
        try { if (Work.Length > 0) Directory.Delete(Work, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { Log($"could not remove {Work}: {e.Message}"); }
    }
}
