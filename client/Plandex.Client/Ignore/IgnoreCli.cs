namespace Plandex.Client.Ignore;

/// <summary>Entry points for the <c>ls-files</c> / <c>check-ignore</c> style CLI commands. Output mirrors git's.</summary>
public static class IgnoreCli
{
    /// <summary>
    /// Prints every loadable file under <paramref name="dir"/>, one per line, relative to it and byte-sorted
    /// (names quoted like git when they contain control, quote, backslash or non-ASCII bytes).
    /// Returns 0, or 1 with one error line when the directory does not exist.
    /// </summary>
    public static int LsFiles(string dir, TextWriter stdout, TextWriter stderr)
        => LsFiles(dir, stdout, stderr, null);

    public static int LsFiles(string dir, TextWriter stdout, TextWriter stderr, IgnoreOptions? options)
    {
        if (!Directory.Exists(dir))
        {
            stderr.Write($"error: '{dir}' is not a directory\n");
            return 1;
        }
        var engine = IgnoreEngine.Open(dir, options);
        engine.Walk(dir, recursive: true, f =>
        {
            stdout.Write(GitQuote.CQuote(f));
            stdout.Write('\n');
        }, null);
        return 0;
    }

    /// <summary>
    /// Like <c>git check-ignore [-v [-n]] --no-index</c> for paths relative to the current directory:
    /// prints ignored paths (or, with <paramref name="verbose"/>, <c>source:line:pattern\tpath</c>; with
    /// <paramref name="nonMatching"/> also <c>::\tpath</c> for paths no rule matched). Exit code 0 when at
    /// least one path was reported as matched, 1 when none, 128 on usage errors. As in git, a matching
    /// negated rule counts as a match in verbose mode.
    /// </summary>
    public static int CheckIgnore(IReadOnlyList<string> paths, bool verbose, bool nonMatching, TextWriter stdout, TextWriter stderr)
        => CheckIgnore(paths, verbose, nonMatching, stdout, stderr, null);

    /// <summary>As above, resolving relative paths against <paramref name="workingDirectory"/> (default: the current directory).</summary>
    public static int CheckIgnore(IReadOnlyList<string> paths, bool verbose, bool nonMatching, TextWriter stdout, TextWriter stderr,
        IgnoreOptions? options, string? workingDirectory = null)
    {
        workingDirectory ??= Directory.GetCurrentDirectory();
        if (nonMatching && !verbose)
        {
            stderr.Write("fatal: --non-matching is only valid with --verbose\n");
            return 128;
        }
        if (paths.Count == 0)
        {
            stderr.Write("fatal: no path specified\n");
            return 128;
        }

        var engine = IgnoreEngine.Open(workingDirectory, options);
        var rels = new string[paths.Count];
        for (int i = 0; i < paths.Count; i++)
        {
            string p = paths[i];
            string? rel = p.Length == 0 ? null : engine.ToTopRelative(p, workingDirectory);
            if (rel == null)
            {
                stderr.Write(p.Length == 0
                    ? "fatal: empty string is not a valid pathspec\n"
                    : $"fatal: {p}: '{p}' is outside the work tree '{engine.Top}'\n");
                return 128;
            }
            rels[i] = rel;
        }

        int matched = 0;
        for (int i = 0; i < paths.Count; i++)
        {
            string original = paths[i];
            bool? isDir = original.EndsWith('/') ? true : null;
            var result = engine.Check(rels[i], isDir);
            if (!verbose)
            {
                if (result.Ignored)
                {
                    matched++;
                    stdout.Write(GitQuote.CQuote(original));
                    stdout.Write('\n');
                }
                continue;
            }
            var rule = result.Rule;
            if (rule != null)
            {
                matched++;
                stdout.Write($"{GitQuote.CQuote(rule.Source)}:{rule.LineNumber}:{rule.Pattern}\t{GitQuote.CQuote(original)}\n");
            }
            else if (nonMatching)
            {
                stdout.Write($"::\t{GitQuote.CQuote(original)}\n");
            }
        }
        return matched > 0 ? 0 : 1;
    }
}
