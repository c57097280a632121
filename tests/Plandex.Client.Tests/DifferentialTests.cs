using System.Text;
using Plandex.Client.Ignore;
using Xunit;

namespace Plandex.Client.Tests;

/// <summary>
/// Random trees and ignore files, with the local git as the oracle:
/// <list type="bullet">
/// <item>git system: <c>git ls-files -o --exclude-standard</c>, and <c>git check-ignore --no-index -v -n</c> for the deciding rules;</item>
/// <item>custom system: <c>git ls-files -o --exclude-per-directory=.plandexignore</c> (no other ignore sources);</item>
/// <item>union: a path is listed only if both listings contain it (each listing already drops paths under a
/// directory that its own system excludes).</item>
/// </list>
/// </summary>
public sealed class DifferentialTests
{
    // Fixed so failures reproduce; PLANDEX_DIFF_SEED / PLANDEX_DIFF_CASES explore further.
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("PLANDEX_DIFF_SEED"), out int s) ? s : 0x5EED_2025;
    private static readonly int Cases = int.TryParse(Environment.GetEnvironmentVariable("PLANDEX_DIFF_CASES"), out int c) ? c : 300;
    private const string Skipped = "skipped";

    private static readonly string[] NameParts =
        ["a", "b", "ab", "A", "B", "x", "foo", "Foo", "bar", "log", "tmp", "key", "1", "9", "é", "a b", "[x]", "#h", "!n", "-", "_", "x\\y", "q*", "w?"];
    private static readonly string[] Exts = ["", "", ".txt", ".log", ".TXT", ".key", ".c", ".o", ".env"];

    [GitFact]
    public void Random_trees_agree_with_git()
    {
        var failures = new List<string>();
        using var tmp = new TempDir();
        string home = tmp.Combine("home");
        Directory.CreateDirectory(home);
        int compared = 0;
        for (int i = 0; i < Cases && failures.Count < 5; i++)
        {
            int caseSeed = Seed + i;
            string? failure = RunCase(caseSeed, tmp.Combine("case" + i), home);
            if (failure == Skipped)
                continue;
            compared++;
            if (failure != null)
                failures.Add($"seed {caseSeed} (base {Seed}, case {i}):\n{failure}");
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        Assert.True(compared >= Cases * 3 / 4, $"only {compared} of {Cases} cases were comparable with this git");
    }

    private sealed class Tree
    {
        public readonly List<string> Dirs = [""];
        public readonly List<string> Files = [];
        public readonly Dictionary<string, string> IgnoreFiles = [];
    }

    private static string RandName(Random r)
    {
        string n = NameParts[r.Next(NameParts.Length)];
        if (r.Next(3) == 0)
            n += NameParts[r.Next(NameParts.Length)];
        n += Exts[r.Next(Exts.Length)];
        if (r.Next(12) == 0)
            n = "." + n;
        return n;
    }

    private static string? RunCase(int seed, string root, string home)
    {
        var r = new Random(seed);
        var tree = new Tree();
        Directory.CreateDirectory(root);

        // Directories, up to depth 3.
        int dirCount = r.Next(1, 7);
        for (int d = 0; d < dirCount; d++)
        {
            string parent = tree.Dirs[r.Next(tree.Dirs.Count)];
            if (parent.Count(c => c == '/') >= 2)
                parent = "";
            string name = RandName(r);
            string path = parent.Length == 0 ? name : parent + "/" + name;
            if (tree.Dirs.Contains(path) || name is ".git")
                continue;
            tree.Dirs.Add(path);
        }
        foreach (var d in tree.Dirs)
            Directory.CreateDirectory(Path.Combine(root, d));

        // Files.
        int fileCount = r.Next(5, 30);
        for (int f = 0; f < fileCount; f++)
        {
            string dir = tree.Dirs[r.Next(tree.Dirs.Count)];
            string path = dir.Length == 0 ? RandName(r) : dir + "/" + RandName(r);
            if (tree.Dirs.Contains(path) || tree.Files.Contains(path))
                continue;
            tree.Files.Add(path);
            File.WriteAllBytes(Path.Combine(root, path), []);
        }

        // An occasional symlink (to a directory or a file): listed, never entered.
        if (r.Next(4) == 0 && !OperatingSystem.IsWindows())
        {
            string dir = tree.Dirs[r.Next(tree.Dirs.Count)];
            string name = "lnk" + r.Next(3);
            string path = dir.Length == 0 ? name : dir + "/" + name;
            if (!tree.Files.Contains(path) && !tree.Dirs.Contains(path))
            {
                File.CreateSymbolicLink(Path.Combine(root, path), r.Next(2) == 0 ? "." : "missing");
                tree.Files.Add(path);
            }
        }

        // Ignore files: .gitignore and .plandexignore in random directories.
        foreach (var fileName in new[] { ".gitignore", ".plandexignore" })
        {
            int n = r.Next(0, 4);
            for (int k = 0; k < n; k++)
            {
                string dir = k == 0 ? "" : tree.Dirs[r.Next(tree.Dirs.Count)];
                string path = dir.Length == 0 ? fileName : dir + "/" + fileName;
                if (tree.IgnoreFiles.ContainsKey(path) || tree.Files.Contains(path))
                    continue;
                string content = RandIgnoreFile(r, tree);
                tree.IgnoreFiles[path] = content;
                File.WriteAllBytes(Path.Combine(root, path), Encoding.UTF8.GetBytes(content));
                tree.Files.Add(path);
            }
        }

        // git < 2.52 strips a pattern's literal prefix before matching, so "foo**/x" also matches "foox"; the engine
        // implements the fixed behaviour, so such cases are not comparable with an older git.
        if (!GitHas252Fix && tree.IgnoreFiles.Values.Any(HasPrefixBeforeDoubleStar))
            return Skipped;

        Git.RunOk(root, home, null, "init", "-q");
        bool ignoreCase = r.Next(5) == 0;
        if (ignoreCase)
            Git.RunOk(root, home, null, "config", "core.ignoreCase", "true");

        var gitList = Git.SplitZ(Git.RunOk(root, home, null, "ls-files", "-z", "--others", "--exclude-standard"));
        var customList = Git.SplitZ(Git.RunOk(root, home, null, "ls-files", "-z", "--others", "--exclude-per-directory=.plandexignore"));
        var customSet = customList.ToHashSet(StringComparer.Ordinal);
        var expected = gitList.Where(customSet.Contains).ToList();

        var engine = IgnoreEngine.Open(root, Hermetic.Options(home));
        var actual = engine.ListFiles(root);

        var sb = new StringBuilder();
        if (!expected.SequenceEqual(actual))
        {
            sb.Append("listing differs:\n");
            foreach (var p in expected.Except(actual))
                sb.Append($"  missing (git lists it): {p}\n");
            foreach (var p in actual.Except(expected))
                sb.Append($"  extra (git omits it):  {p}\n");
            if (expected.ToHashSet().SetEquals(actual))
                sb.Append($"  order differs: git [{string.Join(", ", expected)}] ours [{string.Join(", ", actual)}]\n");
        }

        // Deciding rules for every file and directory (git system only; check-ignore knows nothing of .plandexignore).
        var queries = tree.Files.Concat(tree.Dirs.Where(d => d.Length > 0)).ToList();
        var input = Encoding.UTF8.GetBytes(string.Join('\0', queries) + "\0");
        var fields = Git.SplitZ(Git.RunOk(root, home, input, "check-ignore", "--no-index", "-v", "-n", "-z", "--stdin"));
        for (int q = 0; q + 3 < fields.Count; q += 4)
        {
            string path = fields[q + 3];
            string gitRule = fields[q].Length == 0 ? "(none)" : $"{fields[q]}:{fields[q + 1]}:{fields[q + 2]}";
            var res = engine.Check(path);
            string ours = res.GitRule == null ? "(none)" : $"{res.GitRule.Source}:{res.GitRule.LineNumber}:{res.GitRule.Pattern}";
            if (ours != gitRule)
                sb.Append($"check-ignore {path}: git {gitRule}, ours {ours}\n");
        }

        if (sb.Length == 0)
            return null;
        sb.Insert(0, $"ignoreCase={ignoreCase}\nfiles: {string.Join(" | ", tree.Files)}\n" +
            string.Concat(tree.IgnoreFiles.Select(kv => $"--- {kv.Key} ---\n{kv.Value.Replace("\r", "\\r")}\n")));
        return sb.ToString();
    }

    private static readonly bool GitHas252Fix = GitVersionAtLeast(2, 52);

    private static bool GitVersionAtLeast(int major, int minor)
    {
        var text = Encoding.UTF8.GetString(Git.RunOk(Path.GetTempPath(), Path.GetTempPath(), null, "--version"));
        var m = System.Text.RegularExpressions.Regex.Match(text, @"(\d+)\.(\d+)");
        return m.Success && (int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value)).CompareTo((major, minor)) >= 0;
    }

    // A path pattern whose literal prefix (up to the first glob char) does not end at '/' and is followed by "**".
    private static bool HasPrefixBeforeDoubleStar(string content)
    {
        foreach (var raw in content.TrimStart('\uFEFF').Split('\n'))
        {
            string line = raw.TrimEnd('\r').TrimStart('!').TrimEnd(' ').TrimEnd('/');
            if (!line.TrimStart('/').Contains('/'))
                continue;
            line = line.TrimStart('/');
            int special = line.IndexOfAny(['*', '?', '[', '\\']);
            if (special > 0 && line[special - 1] != '/' && line.AsSpan(special).StartsWith("**"))
                return true;
        }
        return false;
    }

    private static string RandIgnoreFile(Random r, Tree tree)
    {
        var sb = new StringBuilder();
        if (r.Next(10) == 0)
            sb.Append('\uFEFF');
        string eol = r.Next(6) == 0 ? "\r\n" : "\n";
        int lines = r.Next(1, 7);
        for (int i = 0; i < lines; i++)
        {
            switch (r.Next(14))
            {
                case 0: sb.Append("# comment"); break;
                case 1: break; // blank line
                default: sb.Append(RandPattern(r, tree)); break;
            }
            if (i < lines - 1 || r.Next(4) != 0)
                sb.Append(eol);
        }
        return sb.ToString();
    }

    private static string RandPattern(Random r, Tree tree)
    {
        var sb = new StringBuilder();
        if (r.Next(4) == 0)
            sb.Append('!');
        if (r.Next(5) == 0)
            sb.Append('/');
        if (r.Next(8) == 0)
            sb.Append("**/");
        int segs = r.Next(3) == 0 ? r.Next(2, 4) : 1;
        for (int s = 0; s < segs; s++)
        {
            if (s > 0)
                sb.Append(r.Next(6) == 0 ? "/**/" : "/");
            sb.Append(RandSegment(r, tree));
        }
        switch (r.Next(10))
        {
            case 0: sb.Append('/'); break;
            case 1: sb.Append("/**"); break;
            case 2: sb.Append("  "); break;       // trailing spaces: trimmed
            case 3: sb.Append("\\ "); break;      // escaped trailing space: kept
            case 4: sb.Append("\t"); break;       // a tab is not trimmed
        }
        return sb.ToString();
    }

    private static string RandSegment(Random r, Tree tree)
    {
        // Mostly pieces of real names so that patterns actually hit something.
        var all = tree.Files.Concat(tree.Dirs).Where(p => p.Length > 0).ToList();
        string baseName = all.Count > 0 ? all[r.Next(all.Count)].Split('/')[^1] : "a";
        string seg = baseName;
        switch (r.Next(12))
        {
            case 0: seg = "*"; break;
            case 1: seg = "*" + baseName[Math.Min(baseName.Length - 1, r.Next(baseName.Length))..]; break;
            case 2: seg = baseName[..Math.Max(1, r.Next(baseName.Length))] + "*"; break;
            case 3: seg = baseName.Length > 1 ? baseName[..1] + "?" + baseName[2..] : "?"; break;
            case 4: seg = "[a-c]" + (baseName.Length > 1 ? baseName[1..] : ""); break;
            case 5: seg = "[!a]*"; break;
            case 6: seg = "[^xA]" + (baseName.Length > 1 ? baseName[1..] : ""); break;
            case 7: seg = "[[:alpha:]]*"; break;
            case 8: seg = "\\" + baseName; break;
            case 9: seg = baseName.ToUpperInvariant(); break;
            case 10: seg = "foo**"; break;
        }
        // Escape a leading '#' so the line is not a comment; other specials in names stay live on purpose.
        if (seg.StartsWith('#'))
            seg = "\\" + seg;
        return seg;
    }
}
