using System.Text;
using Plandex.Client.Ignore;
using Xunit;

namespace Plandex.Client.Tests;

public sealed class CliTests
{
    private static TempDir MakeRepo(out string root, out string home)
    {
        var tmp = new TempDir();
        root = tmp.Combine("repo");
        home = tmp.Combine("home");
        Directory.CreateDirectory(home);
        Directory.CreateDirectory(Path.Combine(root, ".git", "info"));
        tmp.Write("repo/.gitignore", "*.log\n!keep.log\nbuild/\n# c\nsecret*\n");
        tmp.Write("repo/sub/.gitignore", "local.txt\n");
        tmp.Write("repo/.plandexignore", "*.pem\n");
        foreach (var f in new[] { "a.txt", "b.log", "keep.log", "build/out.o", "sub/local.txt", "sub/x.txt", "key.pem", "é.txt", "tab\there", "q\"uote", "secret.env" })
            tmp.Write("repo/" + f, "");
        return tmp;
    }

    private static (int Code, string Out, string Err) LsFiles(string dir, string home)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = IgnoreCli.LsFiles(dir, o, e, Hermetic.Options(home));
        return (code, o.ToString(), e.ToString());
    }

    private static (int Code, string Out, string Err) CheckIgnore(string cwd, string home, bool verbose, bool nonMatching, params string[] paths)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = IgnoreCli.CheckIgnore(paths, verbose, nonMatching, o, e, Hermetic.Options(home), cwd);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void LsFiles_prints_sorted_quoted_list()
    {
        using var tmp = MakeRepo(out string root, out string home);
        var (code, stdout, stderr) = LsFiles(root, home);
        Assert.Equal(0, code);
        Assert.Equal("", stderr);
        Assert.Equal(
            ".gitignore\n.plandexignore\na.txt\nkeep.log\n\"q\\\"uote\"\nsub/.gitignore\nsub/x.txt\n\"tab\\there\"\n\"\\303\\251.txt\"\n",
            stdout);
    }

    [Fact]
    public void LsFiles_of_subdirectory_is_relative_and_honours_parent_rules()
    {
        using var tmp = MakeRepo(out string root, out string home);
        tmp.Write("repo/sub/deep/z.log", "");
        var (code, stdout, _) = LsFiles(Path.Combine(root, "sub"), home);
        Assert.Equal(0, code);
        Assert.Equal(".gitignore\nx.txt\n", stdout);
    }

    [Fact]
    public void LsFiles_missing_directory_is_one_error_line_and_exit_1()
    {
        using var tmp = new TempDir();
        var (code, stdout, stderr) = LsFiles(tmp.Combine("nope"), tmp.Path);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("nope", stderr);
    }

    [Fact]
    public void CheckIgnore_formats_and_exit_codes()
    {
        using var tmp = MakeRepo(out string root, out string home);

        var r = CheckIgnore(root, home, false, false, "b.log", "a.txt", "build/out.o");
        Assert.Equal((0, "b.log\nbuild/out.o\n", ""), r);

        r = CheckIgnore(root, home, false, false, "a.txt", "keep.log");
        Assert.Equal((1, "", ""), r);

        r = CheckIgnore(root, home, true, true, "b.log", "a.txt", "keep.log", "key.pem", "sub/local.txt");
        Assert.Equal(0, r.Code);
        Assert.Equal(
            ".gitignore:1:*.log\tb.log\n" +
            "::\ta.txt\n" +
            ".gitignore:2:!keep.log\tkeep.log\n" +
            ".plandexignore:1:*.pem\tkey.pem\n" +
            "sub/.gitignore:1:local.txt\tsub/local.txt\n", r.Out);

        // As in git, a matching negation counts as "matched" for the exit code in verbose mode only.
        Assert.Equal(0, CheckIgnore(root, home, true, false, "keep.log").Code);
        Assert.Equal(1, CheckIgnore(root, home, false, false, "keep.log").Code);

        // Paths are relative to the working directory and printed as given.
        r = CheckIgnore(Path.Combine(root, "sub"), home, true, false, "local.txt", "../b.log");
        Assert.Equal("sub/.gitignore:1:local.txt\tlocal.txt\n.gitignore:1:*.log\t../b.log\n", r.Out);

        Assert.Equal(128, CheckIgnore(root, home, false, true, "a.txt").Code);
        Assert.Equal(128, CheckIgnore(root, home, false, false).Code);
        Assert.Equal(128, CheckIgnore(root, home, false, false, "../../outside").Code);
    }

    [GitFact]
    public void Output_is_byte_identical_to_git()
    {
        using var tmp = MakeRepo(out string root, out string home);
        Directory.Delete(Path.Combine(root, ".git"), recursive: true);
        File.Delete(Path.Combine(root, ".plandexignore")); // git knows nothing of it
        File.Delete(Path.Combine(root, "key.pem"));
        Git.RunOk(root, home, null, "init", "-q");

        var gitLs = Encoding.UTF8.GetString(Git.RunOk(root, home, null, "ls-files", "--others", "--exclude-standard"));
        Assert.Equal(gitLs, LsFiles(root, home).Out);

        string[] paths = ["b.log", "a.txt", "keep.log", "build/out.o", "build", "sub/local.txt", "é.txt", "tab\there", "q\"uote", "nothere", "secret.env"];
        var (gitCode, gitOut, _) = Git.Run(root, home, null, ["check-ignore", "--no-index", "-v", "-n", .. paths]);
        var ours = CheckIgnore(root, home, true, true, paths);
        Assert.Equal(Encoding.UTF8.GetString(gitOut), ours.Out);
        Assert.Equal(gitCode, ours.Code);

        (gitCode, gitOut, _) = Git.Run(root, home, null, ["check-ignore", "--no-index", .. paths]);
        ours = CheckIgnore(root, home, false, false, paths);
        Assert.Equal(Encoding.UTF8.GetString(gitOut), ours.Out);
        Assert.Equal(gitCode, ours.Code);
    }

    [Fact]
    public void Load_enumeration_reports_files_and_skipped_rules()
    {
        using var tmp = MakeRepo(out string root, out string home);
        var opts = Hermetic.Options(home);

        var all = LoadableFiles.Enumerate(root, ".", recursive: true, opts);
        Assert.Contains("sub/x.txt", all.Files);
        Assert.DoesNotContain("key.pem", all.Files);
        var build = Assert.Single(all.Skipped, s => s.Path == "build");
        Assert.True(build.IsDirectory);
        Assert.Equal(new IgnoreRule(".gitignore", 3, "build/", false), build.Rule);
        Assert.DoesNotContain(all.Skipped, s => s.Path.StartsWith("build/"));
        Assert.Equal(".plandexignore", Assert.Single(all.Skipped, s => s.Path == "key.pem").Rule.Source);

        var sub = LoadableFiles.Enumerate(root, "sub", recursive: false, opts);
        Assert.Equal(["sub/.gitignore", "sub/x.txt"], sub.Files);
        Assert.Equal("sub/local.txt", Assert.Single(sub.Skipped).Path);

        var one = LoadableFiles.Enumerate(root, "build/out.o", recursive: false, opts);
        Assert.Empty(one.Files);
        Assert.Equal("build/", Assert.Single(one.Skipped).Rule.Pattern);

        Assert.Equal(["a.txt"], LoadableFiles.Enumerate(root, Path.Combine(root, "a.txt"), false, opts).Files);
        Assert.Throws<ArgumentException>(() => LoadableFiles.Enumerate(Path.Combine(root, "sub"), "../a.txt", false, opts));
        Assert.Throws<FileNotFoundException>(() => LoadableFiles.Enumerate(root, "missing.txt", false, opts));
    }

    [Fact]
    public void Works_without_a_git_directory_and_reads_global_excludes()
    {
        using var tmp = new TempDir();
        string home = tmp.Combine("home");
        tmp.Write("home/.config/git/ignore", "*.bak\n");
        tmp.Write("proj/.gitignore", "out/\n");
        tmp.Write("proj/.plandexignore", "*.secret\n");
        foreach (var f in new[] { "a.c", "a.bak", "out/x", "k.secret", "d/e.c" })
            tmp.Write("proj/" + f, "");
        var (code, stdout, _) = LsFiles(tmp.Combine("proj"), home);
        Assert.Equal(0, code);
        Assert.Equal(".gitignore\n.plandexignore\na.c\nd/e.c\n", stdout);

        // XDG_CONFIG_HOME, when set, replaces ~/.config.
        tmp.Write("xdg/git/ignore", "*.c\n");
        var engine = IgnoreEngine.Open(tmp.Combine("proj"), Hermetic.Options(home) is var o ? new IgnoreOptions
        {
            HomeDirectory = o.HomeDirectory,
            XdgConfigHome = tmp.Combine("xdg"),
        } : null);
        Assert.Equal([".gitignore", ".plandexignore", "a.bak"], engine.ListFiles(tmp.Combine("proj")));
    }
}
