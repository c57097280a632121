using System.Text;

namespace Plandex.Client.Ignore;

/// <summary>The rule that decided a path: where it was written and what it says.</summary>
/// <param name="Source">The ignore file as git prints it in <c>check-ignore -v</c> (e.g. <c>a/.gitignore</c>, <c>.git/info/exclude</c>).</param>
/// <param name="LineNumber">1-based line in <paramref name="Source"/>.</param>
/// <param name="Pattern">The line as written after trailing-space trimming, including a leading <c>!</c>.</param>
/// <param name="Negated">True for a <c>!</c> rule: the path is re-included (not ignored) by this rule.</param>
public sealed record IgnoreRule(string Source, int LineNumber, string Pattern, bool Negated);

/// <summary>One compiled line of an ignore file.</summary>
public sealed class IgnorePattern
{
    private enum Kind : byte { Literal, EndsWith, Glob }

    private readonly byte[] _body;   // without '!', trailing '/' and (for path patterns) the leading '/'
    private readonly Kind _kind;

    public IgnoreRule Rule { get; }
    public bool Negated => Rule.Negated;
    /// <summary>Trailing '/': matches directories only (not files, not symlinks to directories).</summary>
    public bool DirectoryOnly { get; }
    /// <summary>No '/' except a trailing one: matched against the basename at any depth.</summary>
    public bool BasenameOnly { get; }

    private IgnorePattern(IgnoreRule rule, byte[] body, Kind kind, bool dirOnly, bool basenameOnly)
    {
        Rule = rule;
        _body = body;
        _kind = kind;
        DirectoryOnly = dirOnly;
        BasenameOnly = basenameOnly;
    }

    /// <summary>
    /// Compiles one already-trimmed line (no CR, no trailing unescaped spaces, not a comment) the way git's
    /// parse_path_pattern does. Returns null for a line that can never match anything (empty, "!", "/").
    /// </summary>
    internal static IgnorePattern? Compile(ReadOnlySpan<byte> line, string source, int lineNumber)
    {
        // git stores patterns as C strings, so anything after an embedded NUL is invisible to it.
        int nul = line.IndexOf((byte)0);
        if (nul >= 0)
            line = line[..nul];
        var rule = new IgnoreRule(source, lineNumber, Encoding.UTF8.GetString(line), line.Length > 0 && line[0] == '!');

        ReadOnlySpan<byte> p = rule.Negated ? line[1..] : line;
        bool dirOnly = false;
        if (p.Length > 0 && p[^1] == '/')
        {
            p = p[..^1];
            dirOnly = true;
        }
        bool basenameOnly = p.IndexOf((byte)'/') < 0;
        if (!basenameOnly && p[0] == '/')
            p = p[1..]; // anchoring slash: the pattern is relative to the ignore file's directory either way
        if (p.Length == 0)
            return null; // an empty pattern matches no name (git compiles it but it can never match)

        Kind kind;
        if (p.IndexOfAny("*?[\\"u8) < 0)
            kind = Kind.Literal;
        else if (basenameOnly && p[0] == '*' && p[1..].IndexOfAny("*?[\\"u8) < 0)
            kind = Kind.EndsWith;
        else
            kind = Kind.Glob;
        return new IgnorePattern(rule, p.ToArray(), kind, dirOnly, basenameOnly);
    }

    /// <summary>
    /// Tests the pattern against a path relative to the ignore file's directory. <paramref name="basenameStart"/>
    /// is the offset of the last component. The caller has already handled <see cref="DirectoryOnly"/>.
    /// </summary>
    internal bool Matches(ReadOnlySpan<byte> relPath, int basenameStart, bool fold)
    {
        ReadOnlySpan<byte> subject = BasenameOnly ? relPath[basenameStart..] : relPath;
        switch (_kind)
        {
            case Kind.Literal:
                return subject.Length == _body.Length && EqualsFold(subject, _body, fold);
            case Kind.EndsWith:
            {
                int n = _body.Length - 1;
                return subject.Length >= n && EqualsFold(subject[^n..], _body.AsSpan(1), fold);
            }
            default:
                // For path patterns this is the full pattern, not git <2.52's "strip the literal prefix first",
                // so "foo**/bar" does not match "foobar" (the fixed behaviour).
                var flags = BasenameOnly ? WildmatchFlags.None : WildmatchFlags.PathName;
                if (fold)
                    flags |= WildmatchFlags.CaseFold;
                return Wildmatch.IsMatch(_body, subject, flags);
        }
    }

    private static bool EqualsFold(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, bool fold)
    {
        if (!fold)
            return a.SequenceEqual(b);
        for (int i = 0; i < a.Length; i++)
        {
            byte x = a[i], y = b[i];
            if (x == y)
                continue;
            if ((uint)(x - 'A') <= 'Z' - 'A') x += 32;
            if ((uint)(y - 'A') <= 'Z' - 'A') y += 32;
            if (x != y)
                return false;
        }
        return true;
    }

    public override string ToString() => $"{Rule.Source}:{Rule.LineNumber}:{Rule.Pattern}";
}

/// <summary>The patterns of one ignore file, in file order (the last matching one wins).</summary>
public sealed class IgnorePatternList
{
    private readonly IgnorePattern[] _patterns;
    private readonly bool _anyDirOnly;

    public string Source { get; }
    public IReadOnlyList<IgnorePattern> Patterns => _patterns;

    private IgnorePatternList(string source, IgnorePattern[] patterns)
    {
        Source = source;
        _patterns = patterns;
        _anyDirOnly = patterns.Any(p => p.DirectoryOnly);
    }

    /// <summary>Parses ignore-file bytes exactly like git's add_patterns_from_buffer.</summary>
    public static IgnorePatternList Parse(ReadOnlySpan<byte> content, string source)
    {
        // A leading UTF-8 BOM is skipped (line numbering is unaffected).
        if (content.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            content = content[3..];
        var list = new List<IgnorePattern>();
        int lineNo = 0;
        while (content.Length > 0)
        {
            lineNo++;
            int nl = content.IndexOf((byte)'\n');
            // A missing final newline still ends a line: git appends one before parsing.
            ReadOnlySpan<byte> line = nl >= 0 ? content[..nl] : content;
            content = nl >= 0 ? content[(nl + 1)..] : default;
            if (line.Length == 0 || line[0] == '#')
                continue; // empty line or comment (a comment is '#' in column one only)
            if (line[^1] == '\r')
                line = line[..^1]; // only a CR right before the LF; a lone CR elsewhere is a literal byte
            line = TrimTrailingSpaces(line);
            var pattern = IgnorePattern.Compile(line, source, lineNo);
            if (pattern != null)
                list.Add(pattern);
        }
        return new IgnorePatternList(source, list.ToArray());
    }

    // Trailing ' ' (not tabs) are dropped unless backslash-escaped; a trailing lone '\' stops the scan (git's trim_trailing_spaces).
    private static ReadOnlySpan<byte> TrimTrailingSpaces(ReadOnlySpan<byte> s)
    {
        int lastSpace = -1;
        for (int i = 0; i < s.Length; i++)
        {
            byte c = s[i];
            if (c == ' ')
            {
                if (lastSpace < 0)
                    lastSpace = i;
            }
            else if (c == '\\')
            {
                i++;
                if (i >= s.Length)
                    return s;
                lastSpace = -1;
            }
            else
            {
                lastSpace = -1;
            }
        }
        return lastSpace >= 0 ? s[..lastSpace] : s;
    }

    /// <summary>The last pattern matching the path (relative to this file's directory), or null.</summary>
    internal IgnorePattern? Match(ReadOnlySpan<byte> relPath, int basenameStart, bool isDirectory, bool fold)
    {
        var pats = _patterns;
        if (!isDirectory && _anyDirOnly)
        {
            for (int i = pats.Length - 1; i >= 0; i--)
            {
                var p = pats[i];
                if (!p.DirectoryOnly && p.Matches(relPath, basenameStart, fold))
                    return p;
            }
            return null;
        }
        for (int i = pats.Length - 1; i >= 0; i--)
        {
            var p = pats[i];
            if (p.Matches(relPath, basenameStart, fold))
                return p;
        }
        return null;
    }
}
