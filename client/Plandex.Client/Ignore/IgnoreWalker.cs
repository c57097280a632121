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
        public int BaseLen; // byte length of the directory prefix (with trailing '/') in _path
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

    private readonly IgnoreEngine _engine;
    private readonly bool _fold;
    private readonly IgnorePatternList? _info;
    private readonly IgnorePatternList? _excludes;
    private readonly string _customName;
    private byte[] _path = new byte[1024]; // current path relative to the work-tree top, UTF-8
    private Frame[] _frames = new Frame[32];
    private int _depth;
    private Action<string> _onFile = null!;
    private Action<SkippedPath>? _onSkipped;
    private bool _recursive;

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
        _onFile = onFile;
        _onSkipped = onSkipped;
        _recursive = recursive;
        _depth = 0;

        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        string rel = _engine.ToTopRelative(full)
            ?? throw new ArgumentException($"'{directory}' is outside the work tree '{_engine.Top}'.", nameof(directory));

        // Replay the directories between the top and the listed one: their ignore files apply, and if one of them
        // is itself ignored nothing below it is listed (as git does when run from inside an ignored directory).
        int len = 0;
        if (rel.Length > 0)
        {
            string relSoFar = "";
            foreach (string comp in rel.Split('/'))
            {
                var lists = _engine.GetDirLists(relSoFar);
                Push(len, lists.Git, lists.Custom);
                if (IsDotGit(comp))
                    return;
                int start = len;
                len = Append(len, comp);
                var rule = Decide(_path.AsSpan(0, len), start, isDir: true);
                if (rule != null)
                {
                    _onSkipped?.Invoke(new SkippedPath(".", true, rule.Rule));
                    return;
                }
                EnsureCapacity(len + 1);
                _path[len++] = (byte)'/';
                relSoFar = relSoFar.Length == 0 ? comp : relSoFar + "/" + comp;
            }
        }
        WalkDir(full, len, rel.Length == 0 ? "" : rel + "/", "");
    }

    private void Push(int baseLen, IgnorePatternList? git, IgnorePatternList? custom)
    {
        if (_depth == _frames.Length)
            Array.Resize(ref _frames, _depth * 2);
        _frames[_depth++] = new Frame { BaseLen = baseLen, Git = git, Custom = custom };
    }

    private void EnsureCapacity(int n)
    {
        if (n > _path.Length)
            Array.Resize(ref _path, Math.Max(n, _path.Length * 2));
    }

    private int Append(int at, string name)
    {
        EnsureCapacity(at + Encoding.UTF8.GetMaxByteCount(name.Length));
        return at + Encoding.UTF8.GetBytes(name, _path.AsSpan(at));
    }

    private bool IsDotGit(ReadOnlySpan<char> name)
        => name.Equals(".git", _fold ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>The rule that excludes the path, or null. The git system is asked first, so a reported rule is
    /// git's whenever git ignores the path; a negation in one system never re-includes for the other.</summary>
    private IgnorePattern? Decide(ReadOnlySpan<byte> path, int basenameStart, bool isDir)
    {
        IgnorePattern? m = null;
        for (int i = _depth - 1; i >= 0; i--)
        {
            ref Frame f = ref _frames[i];
            if (f.Git != null && (m = f.Git.Match(path[f.BaseLen..], basenameStart - f.BaseLen, isDir, _fold)) != null)
                break;
        }
        m ??= _info?.Match(path, basenameStart, isDir, _fold) ?? _excludes?.Match(path, basenameStart, isDir, _fold);
        if (m is { Negated: false })
            return m;
        for (int i = _depth - 1; i >= 0; i--)
        {
            ref Frame f = ref _frames[i];
            if (f.Custom != null && (m = f.Custom.Match(path[f.BaseLen..], basenameStart - f.BaseLen, isDir, _fold)) != null)
                return m.Negated ? null : m;
        }
        return null;
    }

    private void WalkDir(string absDir, int pathLen, string topRel, string listRel)
    {
        var entries = new List<Entry>();
        int totalChars = 0;
        bool hasGitignore = false, hasCustom = false;
        try
        {
            var enumerable = new FileSystemEnumerable<Entry>(absDir, static (ref FileSystemEntry e) => new Entry
            {
                Name = e.FileName.ToString(),
                // IsDirectory follows symlinks; only the (rare) directory case pays for the lstat that tells a
                // symlink to a directory (listed as a file, never entered) from a real one.
                IsDir = e.IsDirectory && (e.Attributes & FileAttributes.ReparsePoint) == 0,
            }, EnumOptions);
            foreach (var e in enumerable)
            {
                entries.Add(e);
                totalChars += e.Name.Length;
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
        span.Sort((a, b) => CompareEntries(arena, a, b));

        IgnorePatternList? git = null, custom = null;
        if (hasGitignore || hasCustom)
        {
            git = hasGitignore ? IgnoreEngine.ReadList(Path.Join(absDir, ".gitignore"), topRel + ".gitignore", followSymlink: false) : null;
            custom = hasCustom ? IgnoreEngine.ReadList(Path.Join(absDir, _customName), topRel + _customName, followSymlink: true) : null;
        }
        Push(pathLen, git, custom);
        try
        {
            foreach (ref readonly Entry e in span)
            {
                if (IsDotGit(e.Name))
                    continue; // never listed, never entered, at any depth
                int end = pathLen + e.Len;
                EnsureCapacity(end + 1);
                arena.AsSpan(e.Off, e.Len).CopyTo(_path.AsSpan(pathLen));
                var rule = Decide(_path.AsSpan(0, end), pathLen, e.IsDir);
                if (rule != null)
                {
                    _onSkipped?.Invoke(new SkippedPath(listRel + e.Name, e.IsDir, rule.Rule));
                    continue;
                }
                if (!e.IsDir)
                {
                    _onFile(listRel + e.Name);
                }
                else if (_recursive)
                {
                    _path[end] = (byte)'/';
                    WalkDir(Path.Join(absDir, e.Name), end + 1, topRel + e.Name + "/", listRel + e.Name + "/");
                }
            }
        }
        finally
        {
            _depth--;
        }
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
