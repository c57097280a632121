using System.IO.Enumeration;
using System.Text;

namespace Plandex.Client.Ignore;

/// <summary>
/// Depth-first listing that decides each entry as git's read_directory does: one enumeration per directory,
/// ignore files read only for directories that are entered, ignored directories never entered.
/// </summary>
internal sealed class IgnoreWalker
{
    private struct Frame
    {
        public int BaseLen; // byte length of the directory prefix (with trailing '/') within the top-relative path
        public IgnorePatternList? Git;
        public IgnorePatternList? Custom;
    }

    private struct Entry
    {
        public string Name;
        public int Off;
        public int Len;
        public bool IsDir;
    }

    private static readonly EnumerationOptions EnumOptions = new()
    {
        RecurseSubdirectories = false,
        IgnoreInaccessible = true,
        AttributesToSkip = 0, // hidden files are ordinary files to git
        ReturnSpecialDirectories = false,
    };

    // One directory to list. Nodes are processed in parallel (each with its own buffers and a snapshot of the
    // ancestor frames); the results are then replayed in order on the calling thread, so callbacks stay sequential.
    private sealed class Node
    {
        public required string AbsDir;
        public required byte[] Prefix;       // top-relative UTF-8 path of this directory, with trailing '/' (empty for the top)
        public required Frame[] Ancestors;   // frames of the enclosing directories, outermost first
        public required string TopRel;
        public required string ListRel;
        public readonly List<object> Items = []; // string (file), SkippedPath, or Node (subdirectory), in output order
    }

    private readonly IgnoreEngine _engine;
    private readonly bool _fold;
    private readonly IgnorePatternList? _info;
    private readonly IgnorePatternList? _excludes;
    private readonly string _customName;
    private bool _recursive;
    private bool _reportSkipped;

    public IgnoreWalker(IgnoreEngine engine)
    {
        _engine = engine;
        _fold = engine.IgnoreCase;
        _info = engine.InfoExclude;
        _excludes = engine.ExcludesFile;
        _customName = engine.CustomFileName;
    }

    public void Walk(string directory, bool recursive, Action<string> onFile, Action<SkippedPath>? onSkipped)
    {
        _recursive = recursive;
        _reportSkipped = onSkipped != null;

        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        string rel = _engine.ToTopRelative(full)
            ?? throw new ArgumentException($"'{directory}' is outside the work tree '{_engine.Top}'.", nameof(directory));

        // Replay the directories between the top and the listed one: their ignore files apply, and if one of them
        // is itself ignored nothing below it is listed (as git does when run from inside an ignored directory).
        var frames = new List<Frame>();
        var prefix = new List<byte>();
        if (rel.Length > 0)
        {
            string relSoFar = "";
            foreach (string comp in rel.Split('/'))
            {
                var lists = _engine.GetDirLists(relSoFar);
                frames.Add(new Frame { BaseLen = prefix.Count, Git = lists.Git, Custom = lists.Custom });
                if (IsDotGit(comp))
                    return;
                int start = prefix.Count;
                prefix.AddRange(Encoding.UTF8.GetBytes(comp));
                var rule = Decide(prefix.ToArray(), start, isDir: true, frames.ToArray(), frames.Count);
                if (rule != null)
                {
                    onSkipped?.Invoke(new SkippedPath(".", true, rule.Rule));
                    return;
                }
                prefix.Add((byte)'/');
                relSoFar = relSoFar.Length == 0 ? comp : relSoFar + "/" + comp;
            }
        }
        var root = new Node
        {
            AbsDir = full,
            Prefix = prefix.ToArray(),
            Ancestors = frames.ToArray(),
            TopRel = rel.Length == 0 ? "" : rel + "/",
            ListRel = "",
        };
        ProcessDir(root);
        Replay(root, onFile, onSkipped);
    }

    private static void Replay(Node node, Action<string> onFile, Action<SkippedPath>? onSkipped)
    {
        foreach (var item in node.Items)
        {
            switch (item)
            {
                case string f: onFile(f); break;
                case SkippedPath s: onSkipped?.Invoke(s); break;
                case Node child: Replay(child, onFile, onSkipped); break;
            }
        }
    }

    private bool IsDotGit(ReadOnlySpan<char> name)
        => name.Equals(".git", _fold ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>The rule that excludes the path, or null. The git system is asked first, so a reported rule is
    /// git's whenever git ignores the path; a negation in one system never re-includes for the other.</summary>
    private IgnorePattern? Decide(ReadOnlySpan<byte> path, int basenameStart, bool isDir, Frame[] frames, int depth)
    {
        IgnorePattern? m = null;
        for (int i = depth - 1; i >= 0; i--)
        {
            ref Frame f = ref frames[i];
            if (f.Git != null && (m = f.Git.Match(path[f.BaseLen..], basenameStart - f.BaseLen, isDir, _fold)) != null)
                break;
        }
        m ??= _info?.Match(path, basenameStart, isDir, _fold) ?? _excludes?.Match(path, basenameStart, isDir, _fold);
        if (m is { Negated: false })
            return m;
        for (int i = depth - 1; i >= 0; i--)
        {
            ref Frame f = ref frames[i];
            if (f.Custom != null && (m = f.Custom.Match(path[f.BaseLen..], basenameStart - f.BaseLen, isDir, _fold)) != null)
                return m.Negated ? null : m;
        }
        return null;
    }

    private void ProcessDir(Node node)
    {
        var entries = new List<Entry>();
        int totalChars = 0, maxChars = 0;
        bool hasGitignore = false, hasCustom = false;
        try
        {
            var enumerable = new FileSystemEnumerable<Entry>(node.AbsDir, static (ref FileSystemEntry e) => new Entry
            {
                Name = e.FileName.ToString(),
                // IsDirectory follows symlinks; only the (rarer) directory case pays for the lstat that tells a
                // symlink to a directory (listed as a file, never entered) from a real one.
                IsDir = e.IsDirectory && (e.Attributes & FileAttributes.ReparsePoint) == 0,
            }, EnumOptions);
            foreach (var e in enumerable)
            {
                entries.Add(e);
                totalChars += e.Name.Length;
                maxChars = Math.Max(maxChars, e.Name.Length);
                if (!e.IsDir)
                {
                    if (e.Name == ".gitignore")
                        hasGitignore = true;
                    else if (e.Name == _customName)
                        hasCustom = true;
                }
            }
        }
        catch (DirectoryNotFoundException) { return; } // vanished while walking
        catch (IOException) { return; }
        catch (UnauthorizedAccessException) { return; }

        // UTF-8 names in one buffer: needed for byte-order sorting and for matching (git compares bytes).
        var arena = new byte[Encoding.UTF8.GetMaxByteCount(totalChars)];
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(entries);
        int off = 0;
        for (int i = 0; i < span.Length; i++)
        {
            span[i].Off = off;
            span[i].Len = Encoding.UTF8.GetBytes(span[i].Name, arena.AsSpan(off));
            off += span[i].Len;
        }
        span.Sort(new EntryComparer(arena));

        IgnorePatternList? git = null, custom = null;
        if (hasGitignore)
            git = IgnoreEngine.ReadList(Path.Join(node.AbsDir, ".gitignore"), node.TopRel + ".gitignore", followSymlink: false);
        if (hasCustom)
            custom = IgnoreEngine.ReadList(Path.Join(node.AbsDir, _customName), node.TopRel + _customName, followSymlink: true);
        var frames = new Frame[node.Ancestors.Length + 1];
        node.Ancestors.CopyTo(frames, 0);
        int pathLen = node.Prefix.Length;
        frames[^1] = new Frame { BaseLen = pathLen, Git = git, Custom = custom };

        var path = new byte[pathLen + Encoding.UTF8.GetMaxByteCount(maxChars)];
        node.Prefix.CopyTo(path, 0);
        List<Node>? children = null;
        foreach (ref readonly Entry e in span)
        {
            if (IsDotGit(e.Name))
                continue; // never listed, never entered, at any depth
            int end = pathLen + e.Len;
            arena.AsSpan(e.Off, e.Len).CopyTo(path.AsSpan(pathLen));
            var rule = Decide(path.AsSpan(0, end), pathLen, e.IsDir, frames, frames.Length);
            if (rule != null)
            {
                if (_reportSkipped)
                    node.Items.Add(new SkippedPath(node.ListRel + e.Name, e.IsDir, rule.Rule));
                continue;
            }
            if (!e.IsDir)
            {
                node.Items.Add(node.ListRel + e.Name);
            }
            else if (_recursive)
            {
                var prefix = new byte[end + 1];
                path.AsSpan(0, end).CopyTo(prefix);
                prefix[end] = (byte)'/';
                var child = new Node
                {
                    AbsDir = Path.Join(node.AbsDir, e.Name),
                    Prefix = prefix,
                    Ancestors = frames,
                    TopRel = node.TopRel + e.Name + "/",
                    ListRel = node.ListRel + e.Name + "/",
                };
                node.Items.Add(child);
                (children ??= []).Add(child);
            }
        }

        if (children == null)
            return;
        // Directory reads dominate; overlapping them across cores is what lets a managed walker keep up with git.
        if (children.Count > 1 && Environment.ProcessorCount > 1)
            Parallel.ForEach(children, ProcessDir);
        else
            foreach (var c in children)
                ProcessDir(c);
    }

    private sealed class EntryComparer(byte[] arena) : IComparer<Entry>
    {
        public int Compare(Entry a, Entry b) => CompareEntries(arena, a, b);
    }

    // Byte order of the full paths git prints: a directory sorts as if its name ended in '/'.
    private static int CompareEntries(byte[] arena, Entry a, Entry b)
    {
        var x = arena.AsSpan(a.Off, a.Len);
        var y = arena.AsSpan(b.Off, b.Len);
        int n = Math.Min(x.Length, y.Length);
        int c = x[..n].SequenceCompareTo(y[..n]);
        if (c != 0)
            return c;
        int cx = x.Length > n ? x[n] : a.IsDir ? '/' : -1;
        int cy = y.Length > n ? y[n] : b.IsDir ? '/' : -1;
        return cx.CompareTo(cy);
    }
}
