using System.Diagnostics;
using System.Text;
using Plandex.Client.Ignore;
using Xunit;

namespace Plandex.Client.Tests;

/// <summary>Locates the shared ignore corpus: $PLANDEX_IGNORE_CORPUS, else ../shared/ignore-corpus next to the repo root.</summary>
internal static class Corpus
{
    public static readonly string? Dir = Find();

    private static string? Find()
    {
        string? env = Environment.GetEnvironmentVariable("PLANDEX_IGNORE_CORPUS");
        if (!string.IsNullOrEmpty(env))
            return Directory.Exists(env) ? env : null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Plandex.Actors.sln")))
            {
                string c = Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "ignore-corpus"));
                return Directory.Exists(c) ? c : null;
            }
        }
        return null;
    }

    public static string PathOf(string name) => Path.Combine(Dir!, name);

    /// <summary>TSV rows, raw: no quoting and no trimming, because spaces and empty fields are significant.</summary>
    public static List<string[]> ReadTsv(string name)
    {
        var text = File.ReadAllText(PathOf(name), new UTF8Encoding(false));
        var lines = text.Split('\n');
        var rows = new List<string[]>();
        for (int i = 1; i < lines.Length; i++) // skip header
        {
            if (lines[i].Length == 0 && i == lines.Length - 1)
                continue;
            rows.Add(lines[i].Split('\t'));
        }
        return rows;
    }
}

/// <summary>A theory that is skipped (not failed) when the corpus is absent.</summary>
public sealed class CorpusTheoryAttribute : TheoryAttribute
{
    public CorpusTheoryAttribute()
    {
        if (Corpus.Dir == null)
            Skip = "ignore corpus not found (set PLANDEX_IGNORE_CORPUS)";
    }
}

/// <summary>A fact that is skipped when no git executable is available.</summary>
public sealed class GitFactAttribute : FactAttribute
{
    public GitFactAttribute()
    {
        if (!Git.Available)
            Skip = "git not found";
    }
}

internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "plx-ign-" + Guid.NewGuid().ToString("N")[..12]);

    public TempDir() => Directory.CreateDirectory(Path);

    public string Combine(string rel) => System.IO.Path.Combine(Path, rel);

    public void Write(string rel, string content) => WriteBytes(rel, Encoding.UTF8.GetBytes(content));

    public void WriteBytes(string rel, byte[] content)
    {
        string full = Combine(rel);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, content);
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Runs the local git hermetically: no system/global config, HOME in a temp dir, C locale.</summary>
internal static class Git
{
    public static readonly bool Available = Probe();

    private static bool Probe()
    {
        try
        {
            var (code, _, _) = Run(System.IO.Path.GetTempPath(), System.IO.Path.GetTempPath(), null, "--version");
            return code == 0;
        }
        catch (Exception)
        {
            return false;
        }
    }

    public static (int Code, byte[] Stdout, string Stderr) Run(string cwd, string home, byte[]? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("git")
        {
            WorkingDirectory = cwd,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin != null,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.ToList())
        {
            if (key.StartsWith("GIT_", StringComparison.Ordinal) || key == "XDG_CONFIG_HOME")
                psi.Environment.Remove(key);
        }
        psi.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        psi.Environment["HOME"] = home;
        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        var ms = new MemoryStream();
        var stdoutTask = p.StandardOutput.BaseStream.CopyToAsync(ms);
        if (stdin != null)
        {
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
        }
        stdoutTask.Wait();
        p.WaitForExit();
        return (p.ExitCode, ms.ToArray(), stderrTask.Result);
    }

    public static byte[] RunOk(string cwd, string home, byte[]? stdin, params string[] args)
    {
        var (code, stdout, stderr) = Run(cwd, home, stdin, args);
        if (code != 0 && !(code == 1 && args.Contains("check-ignore")))
            throw new InvalidOperationException($"git {string.Join(' ', args)} failed ({code}): {stderr}");
        return stdout;
    }

    public static List<string> SplitZ(byte[] output)
    {
        var s = Encoding.UTF8.GetString(output);
        var parts = s.Split('\0').ToList();
        if (parts.Count > 0 && parts[^1].Length == 0)
            parts.RemoveAt(parts.Count - 1);
        return parts;
    }
}

internal static class Hermetic
{
    /// <summary>Options that never look at the real user's configuration.</summary>
    public static IgnoreOptions Options(string home, string customName = ".plandexignore") => new()
    {
        HomeDirectory = home,
        XdgConfigHome = null,
        SystemConfigPath = null,
        GlobalConfigPath = null,
        CustomIgnoreFileName = customName,
    };
}

/// <summary>Byte-wise (UTF-8) ordinal comparison, the order git prints paths in.</summary>
internal sealed class Utf8Order : IComparer<string>
{
    public static readonly Utf8Order Instance = new();

    public int Compare(string? x, string? y)
        => Encoding.UTF8.GetBytes(x!).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y!));
}
