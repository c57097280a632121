namespace Plandex.Client.Ignore;

/// <summary>Result of <see cref="LoadableFiles.Enumerate"/>: paths are relative to the root, '/'-separated, sorted by bytes.</summary>
public sealed record LoadableFileSet(IReadOnlyList<string> Files, IReadOnlyList<SkippedPath> Skipped);

/// <summary>What the <c>load</c> command may read: everything under a path that neither rule system ignores.</summary>
public static class LoadableFiles
{
    /// <summary>
    /// Enumerates loadable files for <paramref name="path"/> (a file or directory, absolute or relative to
    /// <paramref name="root"/>). A directory is walked fully when <paramref name="recursive"/>, otherwise only its
    /// direct files. Ignored paths are reported in <see cref="LoadableFileSet.Skipped"/> with their deciding rule
    /// (an ignored directory once, not its contents). Throws <see cref="ArgumentException"/> for a path outside
    /// the root and <see cref="FileNotFoundException"/> when it does not exist.
    /// </summary>
    public static LoadableFileSet Enumerate(string root, string path, bool recursive, IgnoreOptions? options = null)
    {
        string rootFull = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path, rootFull));
        string rel = Path.GetRelativePath(rootFull, target);
        if (rel == ".")
            rel = "";
        else if (Path.IsPathRooted(rel) || rel == ".." || rel.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"'{path}' is outside '{root}'.", nameof(path));
        rel = rel.Replace(Path.DirectorySeparatorChar, '/');

        FileAttributes attrs;
        try
        {
            attrs = File.GetAttributes(target);
        }
        catch (DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"'{path}' does not exist.", target);
        }

        var engine = IgnoreEngine.Open(rootFull, options);
        var files = new List<string>();
        var skipped = new List<SkippedPath>();
        bool isDir = (attrs & FileAttributes.Directory) != 0 && (attrs & FileAttributes.ReparsePoint) == 0;
        if (isDir)
        {
            string prefix = rel.Length == 0 ? "" : rel + "/";
            engine.Walk(target, recursive,
                f => files.Add(prefix + f),
                s => skipped.Add(s with { Path = s.Path == "." ? (rel.Length == 0 ? "." : rel) : prefix + s.Path }));
        }
        else
        {
            // A single file (or symlink) still gets the full check, including ignored parent directories.
            string topRel = engine.ToTopRelative(target)!;
            var result = engine.Check(topRel, isDirectory: false);
            if (result.Ignored)
                skipped.Add(new SkippedPath(rel, false, result.Rule!));
            else
                files.Add(rel);
        }
        return new LoadableFileSet(files, skipped);
    }
}
