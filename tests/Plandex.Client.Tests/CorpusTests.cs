using System.Text;
using System.Text.Json;
using Plandex.Client.Ignore;
using Xunit;

namespace Plandex.Client.Tests;

/// <summary>The shared corpus (answers produced by real git) as one test case per row / scenario.</summary>
public sealed class CorpusTests
{
    // ---- wildmatch.tsv ----------------------------------------------------------------------------------

    public static IEnumerable<object[]> WildmatchRows()
    {
        if (Corpus.Dir == null)
            return [new object[] { 0, "", "", "1", "0" }];
        return Corpus.ReadTsv("wildmatch.tsv").Select((r, i) => new object[] { i + 2, r[0], r[1], r[2], r[3] });
    }

    [CorpusTheory]
    [MemberData(nameof(WildmatchRows))]
    public void Wildmatch_matches_git(int line, string pattern, string text, string expected, string flags)
    {
        var f = WildmatchFlags.None;
        if (flags.Contains("WM_PATHNAME"))
            f |= WildmatchFlags.PathName;
        if (flags.Contains("WM_CASEFOLD"))
            f |= WildmatchFlags.CaseFold;
        bool actual = Wildmatch.IsMatch(pattern, text, f);
        Assert.True(actual == (expected == "1"),
            $"wildmatch.tsv line {line}: pattern '{pattern}' text '{text}' flags {flags}: expected {expected}, got {(actual ? 1 : 0)}");
    }

    // ---- gitignore-line-cases.tsv -------------------------------------------------------------------------

    public static IEnumerable<object[]> LineCaseRows()
    {
        if (Corpus.Dir == null)
            return [new object[] { 0, "", "x", "0", "0" }];
        return Corpus.ReadTsv("gitignore-line-cases.tsv").Select((r, i) => new object[] { i + 2, r[0], r[1], r[2], r[3] });
    }

    [CorpusTheory]
    [MemberData(nameof(LineCaseRows))]
    public void Gitignore_line_matches_git(int line, string pattern, string path, string expectedCaseSensitive, string expectedIgnoreCase)
    {
        foreach (bool ignoreCase in new[] { false, true })
        {
            using var tmp = new TempDir();
            Directory.CreateDirectory(tmp.Combine(".git"));
            tmp.Write(".git/config", $"[core]\n\tignoreCase = {(ignoreCase ? "true" : "false")}\n");
            tmp.Write(".gitignore", pattern + "\n");
            tmp.Write(path, "");
            var options = Hermetic.Options(tmp.Combine("home"));
            var engine = IgnoreEngine.Open(tmp.Path, options);
            bool expected = (ignoreCase ? expectedIgnoreCase : expectedCaseSensitive) == "1";

            bool viaCheck = engine.Check(path).Ignored;
            bool viaList = !engine.ListFiles(tmp.Path).Contains(path);
            string what = $"gitignore-line-cases.tsv line {line}: pattern '{pattern}' path '{path}' ignoreCase={ignoreCase}";
            Assert.True(viaCheck == expected, $"{what}: check said {viaCheck}, expected {expected}");
            Assert.True(viaList == expected, $"{what}: listing said ignored={viaList}, expected {expected}");
        }
    }

    // ---- tree-scenarios.json -----------------------------------------------------------------------------

    private static JsonElement[]? _scenarios;

    private static JsonElement[] Scenarios()
    {
        if (_scenarios == null)
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Corpus.PathOf("tree-scenarios.json")));
            _scenarios = doc.RootElement.GetProperty("scenarios").EnumerateArray().Select(e => e.Clone()).ToArray();
        }
        return _scenarios;
    }

    public static IEnumerable<object[]> ScenarioIds()
    {
        if (Corpus.Dir == null)
            return [new object[] { "" }];
        return Scenarios().Select(s => new object[] { s.GetProperty("id").GetString()! });
    }

    private static List<string> Strings(JsonElement e, string name)
        => e.TryGetProperty(name, out var v) ? v.EnumerateArray().Select(x => x.GetString()!).ToList() : [];

    [CorpusTheory]
    [MemberData(nameof(ScenarioIds))]
    public void Tree_scenario_matches_git(string id)
    {
        var s = Scenarios().Single(x => x.GetProperty("id").GetString() == id);
        if (s.GetProperty("posix_only").GetBoolean() && OperatingSystem.IsWindows())
            return;

        using var tmp = new TempDir();
        string root = tmp.Combine("repo");
        string home = tmp.Combine("home");
        Directory.CreateDirectory(Path.Combine(root, ".git", "info"));
        Directory.CreateDirectory(home);

        foreach (var f in s.GetProperty("files").EnumerateObject())
            tmp.Write(Path.Combine("repo", f.Name), f.Value.GetString()!);
        if (s.TryGetProperty("symlinks", out var links))
        {
            foreach (var l in links.EnumerateObject())
            {
                string full = Path.Combine(root, l.Name);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                File.CreateSymbolicLink(full, l.Value.GetString()!);
            }
        }
        var config = new StringBuilder();
        if (s.TryGetProperty("git_config", out var gc))
        {
            foreach (var kv in gc.EnumerateObject())
            {
                var parts = kv.Name.Split('.', 2);
                config.Append($"[{parts[0]}]\n\t{parts[1]} = {kv.Value.GetString()}\n");
            }
        }
        File.WriteAllText(Path.Combine(root, ".git", "config"), config.ToString());
        if (s.TryGetProperty("info_exclude", out var ie))
            tmp.Write("repo/.git/info/exclude", ie.GetString()!);
        string? globalExcludes = null;
        if (s.TryGetProperty("global_excludes", out var ge))
        {
            // Configured through the (hermetic) ~/.gitconfig so the config lookup is exercised too.
            globalExcludes = tmp.Combine("global-excludes");
            tmp.Write("global-excludes", ge.GetString()!);
            tmp.Write("home/.gitconfig", $"[core]\n\texcludesFile = {globalExcludes}\n");
        }
        string customName = s.TryGetProperty("custom_ignore", out var ci) ? ci.GetString()! : ".plandexignore";

        var engine = IgnoreEngine.Open(root, Hermetic.Options(home, customName));
        var failures = new List<string>();

        var expected = Strings(s, "expected_not_ignored");
        var actual = engine.ListFiles(root);
        if (!expected.SequenceEqual(actual))
            failures.Add($"listing:\n  expected [{string.Join(", ", expected)}]\n  actual   [{string.Join(", ", actual)}]");

        // Every file decided the same way by the single-path check as by the walk.
        foreach (var f in s.GetProperty("files").EnumerateObject().Select(f => f.Name))
        {
            bool ignored = engine.Check(f).Ignored;
            if (ignored == expected.Contains(f))
                failures.Add($"check({f}).Ignored={ignored} disagrees with the listing");
        }

        // Deciding rules of the git system, as git check-ignore -v reported them. Tracked paths (git skips
        // them, we do not) and paths where this git predates the 2.52 fix are not comparable.
        var skip = new HashSet<string>(Strings(s, "tracked").Concat(Strings(s, "intent_mismatch_with_this_git")));
        var exp = s.GetProperty("expected");
        foreach (var (prop, isDir) in new[] { ("check_ignore", false), ("check_ignore_dirs", true) })
        {
            if (!exp.TryGetProperty(prop, out var checks))
                continue;
            foreach (var c in checks.EnumerateObject())
            {
                if (skip.Contains(c.Name))
                    continue;
                var r = engine.Check(c.Name.TrimEnd('/'), isDir ? true : null);
                bool expIgnored = c.Value.GetProperty("ignored").GetBoolean();
                string expRule = c.Value.TryGetProperty("source", out var src)
                    ? $"{src.GetString()}:{c.Value.GetProperty("line").GetInt32()}:{c.Value.GetProperty("pattern").GetString()}"
                    : "(none)";
                if (globalExcludes != null)
                    expRule = expRule.Replace("<core.excludesFile>", globalExcludes);
                string actRule = r.GitRule == null ? "(none)" : $"{r.GitRule.Source}:{r.GitRule.LineNumber}:{r.GitRule.Pattern}";
                if (r.IgnoredByGit != expIgnored || actRule != expRule)
                    failures.Add($"check-ignore {c.Name}: expected ignored={expIgnored} {expRule}, got ignored={r.IgnoredByGit} {actRule}");
            }
        }

        Assert.True(failures.Count == 0, $"scenario {id}:\n" + string.Join("\n", failures));
    }
}
