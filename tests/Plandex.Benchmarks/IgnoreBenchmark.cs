using System.Diagnostics;
using System.Text;
using Plandex.Client.Ignore;

namespace Plandex.Benchmarks;

/// <summary>
/// Whole-listing comparison on one deterministic tree: our <see cref="IgnoreCli.LsFiles(string, TextWriter, TextWriter)"/>
/// (in process, after a warm-up) against <c>git ls-files --others --exclude-standard</c> (a fresh process each run,
/// as a user would run it). Both outputs must be identical before any time is reported.
/// </summary>
internal static class IgnoreBenchmark
{
    public static int Run(string[] args)
    {
        int files = 100_000, runs = 7;
        string? dir = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--files": files = int.Parse(args[++i]); break;
                case "--runs": runs = int.Parse(args[++i]); break;
                case "--dir": dir = args[++i]; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }

        string work = dir ?? Path.Combine(Path.GetTempPath(), "plandex-ignore-bench-" + Environment.ProcessId);
        string root = Path.Combine(work, "tree");
        string home = Path.Combine(work, "home");
        try
        {
            Directory.CreateDirectory(home);
            var sw = Stopwatch.StartNew();
            var (created, ignoreFiles) = GenerateTree(root, files);
            Console.WriteLine($"tree: {created:N0} files, {ignoreFiles} ignore files, generated in {sw.ElapsedMilliseconds} ms ({root})");
            RunGit(root, home, "init", "-q");

            // Hermetic on both sides: no system/global config, no user ignore file.
            var options = new IgnoreOptions { HomeDirectory = home };
            string ours = RunOurs(root, options);
            string git = RunGit(root, home, "ls-files", "--others", "--exclude-standard");
            if (ours != git)
            {
                Console.Error.WriteLine("OUTPUT MISMATCH between LsFiles and git ls-files:");
                var a = ours.Split('\n').ToHashSet();
                var b = git.Split('\n').ToHashSet();
                foreach (var p in b.Except(a).Take(10)) Console.Error.WriteLine($"  only git:  {p}");
                foreach (var p in a.Except(b).Take(10)) Console.Error.WriteLine($"  only ours: {p}");
                return 1;
            }
            int listed = ours.Count(c => c == '\n');
            Console.WriteLine($"outputs identical: {listed:N0} files listed, {created - listed:N0} ignored");

            // Warm-up until the JIT has promoted the hot loops (tiered compilation), then interleave the two so
            // background load on the machine hits both sides alike.
            for (int i = 0; i < WarmupRuns; i++)
                RunOurs(root, options);
            RunGit(root, home, "ls-files", "--others", "--exclude-standard");
            var oursMs = new List<double>();
            var gitMs = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                oursMs.Add(Time(() => RunOurs(root, options)));
                gitMs.Add(Time(() => RunGit(root, home, "ls-files", "--others", "--exclude-standard")));
            }
            double o = Median(oursMs), g = Median(gitMs);
            Console.WriteLine($"runs: {runs} each, interleaved, after {WarmupRuns} warm-up runs of ours and 1 of git");
            Console.WriteLine($"ours (LsFiles, in-process) median {o,8:F1} ms   [{string.Join(", ", oursMs.Select(x => x.ToString("F0")))}]");
            Console.WriteLine($"git ls-files -o --exclude-standard median {g,8:F1} ms   [{string.Join(", ", gitMs.Select(x => x.ToString("F0")))}]");
            Console.WriteLine($"ratio ours/git: {o / g:F2}");
            return 0;
        }
        finally
        {
            if (dir == null)
            {
                try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            }
        }
    }

    private static string RunOurs(string root, IgnoreOptions options)
    {
        var stdout = new StringWriter(new StringBuilder(4 << 20));
        int code = IgnoreCli.LsFiles(root, stdout, TextWriter.Null, options);
        if (code != 0)
            throw new InvalidOperationException("LsFiles failed");
        return stdout.ToString();
    }

    private const int WarmupRuns = 8;

    private static double Time(Action action)
    {
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalMilliseconds;
    }

    private static double Median(List<double> xs)
    {
        var s = xs.OrderBy(x => x).ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    private static string RunGit(string cwd, string home, params string[] args)
    {
        var psi = new ProcessStartInfo("git")
        {
            WorkingDirectory = cwd,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = new UTF8Encoding(false),
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("GIT_", StringComparison.Ordinal) || k == "XDG_CONFIG_HOME").ToList())
            psi.Environment.Remove(key);
        psi.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        psi.Environment["HOME"] = home;
        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"git {string.Join(' ', args)}: {err.Result}");
        return output;
    }

    /// <summary>
    /// A deterministic source-like tree: 3 levels of directories (10 x 10 x 10), files spread over the leaves,
    /// ignore files at the top, at depth 1 and at depth 2, some ignored directories (never entered) and
    /// negations. Returns (files written including ignore files, ignore files).
    /// </summary>
    private static (int Files, int IgnoreFiles) GenerateTree(string root, int total)
    {
        if (Directory.Exists(root))
            Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(root);
        var rng = new Random(42);
        string[] exts = [".cs", ".ts", ".md", ".json", ".log", ".tmp", ".o", ".txt", ".env", ".png"];
        string[] stems = ["main", "util", "index", "gen_model", "test", "keep_state", "readme", "config", "data", "secret"];
        int written = 0, ignoreFiles = 0;

        void Write(string rel, string content)
        {
            File.WriteAllText(Path.Combine(root, rel), content);
            written++;
        }

        // No .plandexignore here: git is the oracle for the output, and it only knows .gitignore.
        Write(".gitignore", "# build output\n*.log\n!important.log\n/dist/\nnode_modules/\n*.o\n**/cache/**\n.env\n*.png\nsecret*\n");
        ignoreFiles++;

        var leaves = new List<string>();
        for (int a = 0; a < 10; a++)
        {
            string d1 = a == 3 ? "node_modules" : a == 7 ? "dist" : $"pkg{a}";
            Directory.CreateDirectory(Path.Combine(root, d1));
            if (a % 2 == 0)
            {
                Write($"{d1}/.gitignore", "*.tmp\n!keep_*.tmp\ngen_*\n/sub3/\n");
                ignoreFiles++;
            }
            for (int b = 0; b < 10; b++)
            {
                string d2 = $"{d1}/{(b == 5 ? "cache" : "sub" + b)}";
                Directory.CreateDirectory(Path.Combine(root, d2));
                if (b % 3 == 0)
                {
                    Write($"{d2}/.gitignore", "data*.json\n!data0*.json\n*.md\n!readme*.md\nmod*/\n");
                    ignoreFiles++;
                }
                for (int c = 0; c < 10; c++)
                {
                    string d3 = $"{d2}/{(c == 9 ? "module" + c : "leaf" + c)}";
                    Directory.CreateDirectory(Path.Combine(root, d3));
                    leaves.Add(d3);
                }
            }
        }

        int perLeaf = Math.Max(1, (total - written) / leaves.Count);
        foreach (var leaf in leaves)
        {
            for (int i = 0; i < perLeaf && written < total; i++)
            {
                string name = $"{stems[rng.Next(stems.Length)]}{i}{exts[rng.Next(exts.Length)]}";
                Write($"{leaf}/{name}", "");
            }
        }
        for (int i = 0; written < total; i++)
            Write($"{leaves[i % leaves.Count]}/extra{i}.cs", "");
        return (written, ignoreFiles);
    }
}
