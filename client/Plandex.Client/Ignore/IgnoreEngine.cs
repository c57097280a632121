using System.Text;

namespace Plandex.Client.Ignore;

/// <summary>Outcome of checking one path against both rule systems.</summary>
/// <param name="Path">The path as checked, relative to <see cref="IgnoreEngine.Top"/>.</param>
/// <param name="Ignored">True when the .gitignore system OR the custom (.plandexignore) system ignores the path.</param>
/// <param name="Rule">The deciding rule: the git rule if git ignores, else the custom rule if that ignores, else a
/// matching negation (git's first), else null.</param>
/// <param name="GitRule">Last matching rule of the git system (.gitignore files, info/exclude, core.excludesFile).</param>
/// <param name="CustomRule">Last matching rule of the custom system.</param>
public sealed record IgnoreCheckResult(string Path, bool Ignored, IgnoreRule? Rule, IgnoreRule? GitRule, IgnoreRule? CustomRule)
{
    public bool IgnoredByGit => GitRule is { Negated: false };
    public bool IgnoredByCustom => CustomRule is { Negated: false };
}

/// <summary>A path left out of a listing and the rule that excluded it (a directory stands for everything inside it).</summary>
public sealed record SkippedPath(string Path, bool IsDirectory, IgnoreRule Rule);

/// <summary>
/// The ignore rules of one work tree: git's rules (nested .gitignore, .git/info/exclude, core.excludesFile,
/// core.ignoreCase) plus a second, independent system of custom ignore files (.plandexignore) combined by union.
/// Ignore files are read once and cached, so create a new engine to see edits.
/// </summary>
public sealed class IgnoreEngine
{
    internal readonly struct DirLists(IgnorePatternList? git, IgnorePatternList? custom)
    {
        public readonly IgnorePatternList? Git = git;
        public readonly IgnorePatternList? Custom = custom;
    }

    private readonly Dictionary<string, DirLists> _dirCache = new(StringComparer.Ordinal);
    internal readonly IgnorePatternList? InfoExclude;
    internal readonly IgnorePatternList? ExcludesFile;

    /// <summary>Absolute path of the work-tree top (the directory holding .git), or of the walk root when there is no repository.</summary>
    public string Top { get; }
    /// <summary>The repository's git directory, or null when no enclosing .git was found.</summary>
    public string? GitDirectory { get; }
    /// <summary>core.ignoreCase: ASCII-case-insensitive matching for both systems.</summary>
    public bool IgnoreCase { get; }
    public IgnoreOptions Options { get; }
    internal string CustomFileName => Options.CustomIgnoreFileName;

    private IgnoreEngine(string top, string? gitDir, string? commonDir, IgnoreOptions options)
    {
        Top = top;
        GitDirectory = gitDir;
        Options = options;

        // Config precedence is git's: system, then global (XDG then ~/.gitconfig), then the repository; last wins.
        var entries = new List<KeyValuePair<string, string?>>();
        if (!string.IsNullOrEmpty(options.SystemConfigPath))
            entries.AddRange(GitConfigReader.ReadFile(options.SystemConfigPath));
        if (options.GlobalConfigPath != null)
        {
            entries.AddRange(GitConfigReader.ReadFile(options.GlobalConfigPath));
        }
        else
        {
            if (options.XdgGitPath("config") is { } xdgConfig)
                entries.AddRange(GitConfigReader.ReadFile(xdgConfig));
            if (!string.IsNullOrEmpty(options.HomeDirectory))
                entries.AddRange(GitConfigReader.ReadFile(Path.Combine(options.HomeDirectory, ".gitconfig")));
        }
        if (commonDir != null)
            entries.AddRange(GitConfigReader.ReadFile(Path.Combine(commonDir, "config")));

        bool excludesSet = false;
        string? excludesValue = null;
        foreach (var (key, value) in entries)
        {
            if (key == "core.ignorecase")
                IgnoreCase = GitConfigReader.ParseBool(value) ?? false;
            else if (key == "core.excludesfile")
            {
                excludesSet = true;
                excludesValue = value;
            }
        }

        // Lowest precedence: core.excludesFile, defaulting to $XDG_CONFIG_HOME/git/ignore (~/.config/git/ignore).
        // Patterns from it (and from info/exclude) are anchored at the work-tree top.
        string? excludesPath = excludesSet ? ExpandPath(excludesValue, options) : options.XdgGitPath("ignore");
        if (!string.IsNullOrEmpty(excludesPath))
        {
            string full = Path.IsPathRooted(excludesPath) ? excludesPath : Path.Combine(top, excludesPath);
            ExcludesFile = ReadList(full, excludesPath, followSymlink: true);
        }

        if (commonDir != null)
        {
            string infoExclude = Path.Combine(commonDir, "info", "exclude");
            string display = gitDir == Path.Combine(top, ".git")
                ? ".git/info/exclude"
                : infoExclude.Replace(Path.DirectorySeparatorChar, '/');
            InfoExclude = ReadList(infoExclude, display, followSymlink: true);
        }
    }

    /// <summary>
    /// Opens the rules governing <paramref name="directory"/>: the nearest enclosing work tree (found by looking upward
    /// for .git), or, without one, <paramref name="directory"/> itself acting as the top.
    /// </summary>
    public static IgnoreEngine Open(string directory, IgnoreOptions? options = null)
    {
        options ??= IgnoreOptions.FromEnvironment();
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        for (string? d = full; d != null; d = Path.GetDirectoryName(d))
        {
            if (TryGitDir(d, out string? gitDir, out string? commonDir))
                return new IgnoreEngine(d, gitDir, commonDir, options);
        }
        return new IgnoreEngine(full, null, null, options);
    }

    private static bool TryGitDir(string dir, out string? gitDir, out string? commonDir)
    {
        gitDir = commonDir = null;
        string dotGit = Path.Combine(dir, ".git");
        if (Directory.Exists(dotGit))
        {
            gitDir = dotGit;
        }
        else if (File.Exists(dotGit))
        {
            // Worktrees and submodules: ".git" is a file "gitdir: <path>".
            string text;
            try { text = File.ReadAllText(dotGit).Trim(); }
            catch (IOException) { return false; }
            catch (UnauthorizedAccessException) { return false; }
            if (!text.StartsWith("gitdir:", StringComparison.Ordinal))
                return false;
            string target = text["gitdir:".Length..].Trim();
            gitDir = Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(dir, target));
            if (!Directory.Exists(gitDir))
                return false;
        }
        else
        {
            return false;
        }
        commonDir = gitDir;
        string commonFile = Path.Combine(gitDir, "commondir");
        if (File.Exists(commonFile))
        {
            try
            {
                string c = File.ReadAllText(commonFile).Trim();
                commonDir = Path.GetFullPath(Path.IsPathRooted(c) ? c : Path.Combine(gitDir, c));
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return true;
    }

    // git's interpolate_path, minus "~user/" and "%(prefix)/".
    private static string? ExpandPath(string? value, IgnoreOptions options)
    {
        if (string.IsNullOrEmpty(value))
            return value;
        if (value == "~" || value.StartsWith("~/", StringComparison.Ordinal))
            return string.IsNullOrEmpty(options.HomeDirectory) ? null : options.HomeDirectory + value[1..];
        return value;
    }

    internal static IgnorePatternList? ReadList(string fullPath, string display, bool followSymlink)
    {
        try
        {
            var info = new FileInfo(fullPath);
            if (!info.Exists)
                return null;
            // Like git (O_NOFOLLOW for in-tree .gitignore), a symlinked in-tree ignore file is not read.
            if (!followSymlink && (info.Attributes & FileAttributes.ReparsePoint) != 0)
                return null;
            byte[] bytes = File.ReadAllBytes(fullPath);
            return IgnorePatternList.Parse(bytes, display);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>Ignore files of one directory (relative to <see cref="Top"/>, "" for the top, no trailing slash).</summary>
    internal DirLists GetDirLists(string relDir)
    {
        lock (_dirCache)
        {
            if (_dirCache.TryGetValue(relDir, out var lists))
                return lists;
            lists = LoadDirLists(relDir, gitPresent: true, customPresent: true);
            _dirCache[relDir] = lists;
            return lists;
        }
    }

    internal DirLists LoadDirLists(string relDir, bool gitPresent, bool customPresent)
    {
        string abs = relDir.Length == 0 ? Top : Path.Combine(Top, relDir);
        string prefix = relDir.Length == 0 ? "" : relDir + "/";
        var git = gitPresent ? ReadList(Path.Combine(abs, ".gitignore"), prefix + ".gitignore", followSymlink: false) : null;
        // A symlinked custom ignore file is followed: it can only hide more files, never expose any.
        var custom = customPresent ? ReadList(Path.Combine(abs, CustomFileName), prefix + CustomFileName, followSymlink: true) : null;
        return new DirLists(git, custom);
    }

    /// <summary>Converts a path (absolute, or relative to <paramref name="baseDirectory"/>, default the current directory) to a '/'-separated path relative to <see cref="Top"/>.
    /// Returns null when it is outside the work tree.</summary>
    public string? ToTopRelative(string path, string? baseDirectory = null)
    {
        string full = baseDirectory == null ? Path.GetFullPath(path) : Path.GetFullPath(path, Path.GetFullPath(baseDirectory));
        string rel = Path.GetRelativePath(Top, full);
        if (rel == ".")
            return "";
        if (Path.IsPathRooted(rel) || rel == ".." || rel.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            return null;
        rel = rel.Replace(Path.DirectorySeparatorChar, '/');
        return rel.TrimEnd('/');
    }

    /// <summary>
    /// Decides one path (relative to <see cref="Top"/>, '/'-separated) the way <c>git check-ignore --no-index</c>
    /// does, including exclusion by an ignored parent directory. <paramref name="isDirectory"/> null means look at
    /// the file system (a symlink is never a directory).
    /// </summary>
    public IgnoreCheckResult Check(string relativePath, bool? isDirectory = null)
    {
        // '\\' is an ordinary name byte on POSIX (git never treats it as a separator); only Windows paths need converting.
        string rel = (Path.DirectorySeparatorChar == '\\' ? relativePath.Replace('\\', '/') : relativePath).Trim('/');
        if (isDirectory == null)
        {
            try
            {
                // lstat semantics: a symlink to a directory reports ReparsePoint and counts as a file.
                var attrs = File.GetAttributes(rel.Length == 0 ? Top : Path.Combine(Top, rel));
                isDirectory = (attrs & FileAttributes.Directory) != 0 && (attrs & FileAttributes.ReparsePoint) == 0;
            }
            catch (IOException) { isDirectory = false; }
            catch (UnauthorizedAccessException) { isDirectory = false; }
        }
        if (rel.Length == 0)
            return new IgnoreCheckResult(relativePath, false, null, null, null);

        byte[] path = Encoding.UTF8.GetBytes(rel);
        var gitRule = CheckSystem(rel, path, isDirectory.Value, custom: false);
        var customRule = CheckSystem(rel, path, isDirectory.Value, custom: true);
        bool gitIgnores = gitRule is { Negated: false };
        bool customIgnores = customRule is { Negated: false };
        var rule = gitIgnores ? gitRule : customIgnores ? customRule : gitRule ?? customRule;
        return new IgnoreCheckResult(rel, gitIgnores || customIgnores, rule, gitRule, customRule);
    }

    // Mirrors git's prep_exclude + last_matching_pattern: each leading directory is tested first, and an excluded
    // one decides the path (and its ignore files are never consulted).
    private IgnoreRule? CheckSystem(string rel, byte[] path, bool isDirectory, bool custom)
    {
        var frames = new List<(int BaseLen, IgnorePatternList? List)>();
        int byteStart = 0;
        int charStart = 0;
        while (true)
        {
            var lists = GetDirLists(charStart == 0 ? "" : rel[..(charStart - 1)]);
            frames.Add((byteStart, custom ? lists.Custom : lists.Git));

            int slashByte = Array.IndexOf(path, (byte)'/', byteStart);
            bool last = slashByte < 0;
            int endByte = last ? path.Length : slashByte;
            var m = MatchFrames(path.AsSpan(0, endByte), byteStart, last ? isDirectory : true, frames, custom);
            if (last)
                return m?.Rule;
            if (m is { Negated: false })
                return m.Rule;
            byteStart = slashByte + 1;
            charStart = rel.IndexOf('/', charStart) + 1;
        }
    }

    private IgnorePattern? MatchFrames(ReadOnlySpan<byte> path, int basenameStart, bool isDir,
        List<(int BaseLen, IgnorePatternList? List)> frames, bool custom)
    {
        for (int i = frames.Count - 1; i >= 0; i--)
        {
            var (baseLen, list) = frames[i];
            if (list == null)
                continue;
            var m = list.Match(path[baseLen..], basenameStart - baseLen, isDir, IgnoreCase);
            if (m != null)
                return m;
        }
        if (custom)
            return null;
        return InfoExclude?.Match(path, basenameStart, isDir, IgnoreCase)
            ?? ExcludesFile?.Match(path, basenameStart, isDir, IgnoreCase);
    }

    /// <summary>
    /// Lists the loadable files under <paramref name="directory"/> (absolute, or relative to the current directory),
    /// relative to it, '/'-separated and sorted by UTF-8 bytes, exactly like
    /// <c>git ls-files --others --exclude-standard</c> plus the custom ignore files, except that tracked files get
    /// no exemption. Never descends into an ignored directory or <c>.git</c>; symlinks are listed, not followed.
    /// </summary>
    public List<string> ListFiles(string directory)
    {
        var files = new List<string>();
        new IgnoreWalker(this).Walk(directory, recursive: true, files.Add, null);
        return files;
    }

    /// <summary>Walks like <see cref="ListFiles"/> with callbacks; <paramref name="onSkipped"/> receives each
    /// top-most ignored path (an ignored directory is reported once, not its contents).</summary>
    public void Walk(string directory, bool recursive, Action<string> onFile, Action<SkippedPath>? onSkipped)
        => new IgnoreWalker(this).Walk(directory, recursive, onFile, onSkipped);
}
