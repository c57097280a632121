using System.Text;

namespace Plandex.Client.Ignore;

/// <summary>Flags for <see cref="Wildmatch"/>, named after git's WM_* flags.</summary>
[Flags]
public enum WildmatchFlags
{
    None = 0,
    /// <summary>WM_PATHNAME: '*', '?' and brackets never match '/'; '**' has its directory meaning.</summary>
    PathName = 1,
    /// <summary>WM_CASEFOLD: ASCII-only case folding (what core.ignoreCase does).</summary>
    CaseFold = 2,
}

/// <summary>
/// Glob matching with the semantics of git's wildmatch.c. It works on UTF-8 bytes, not chars, because git does:
/// '?' consumes one byte and brackets compare bytes, so a char-based matcher would disagree on non-ASCII names.
/// </summary>
public static class Wildmatch
{
    // Result codes mirror git's: the two abort codes let a failed sub-match stop the caller's '*' loop early
    // (once the text is exhausted, or once a single '*' would have to cross a '/'), which keeps the
    // backtracking polynomial on patterns such as "*a*b*c*d".
    private const int Match = 0;
    private const int NoMatch = 1;
    private const int AbortAll = -1;
    private const int AbortToStarStar = -2;

    public static bool IsMatch(string pattern, string text, WildmatchFlags flags = WildmatchFlags.None)
        => IsMatch(Encoding.UTF8.GetBytes(pattern), Encoding.UTF8.GetBytes(text), flags);

    public static bool IsMatch(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text, WildmatchFlags flags)
        => DoWild(pattern, 0, text, 0, (flags & WildmatchFlags.PathName) != 0, (flags & WildmatchFlags.CaseFold) != 0) == Match;

    // Out-of-range reads yield 0, standing in for the C string terminator the algorithm is defined against.
    private static byte At(ReadOnlySpan<byte> s, int i) => (uint)i < (uint)s.Length ? s[i] : (byte)0;

    private static bool IsUpper(byte c) => c >= 'A' && c <= 'Z';
    private static bool IsLower(byte c) => c >= 'a' && c <= 'z';
    private static byte ToLower(byte c) => IsUpper(c) ? (byte)(c + 32) : c;
    private static bool IsGlobSpecial(byte c) => c == '*' || c == '?' || c == '[' || c == '\\';

    private static int DoWild(ReadOnlySpan<byte> pat, int p, ReadOnlySpan<byte> text, int t, bool pathName, bool fold)
    {
        for (; p < pat.Length; t++, p++)
        {
            byte pc = pat[p];
            byte tc = At(text, t);
            if (tc == 0 && pc != '*')
                return AbortAll;
            if (fold)
            {
                tc = ToLower(tc);
                pc = ToLower(pc);
            }

            switch (pc)
            {
                case (byte)'\\':
                    // The escaped byte is compared as is (git does not fold it); a trailing '\' reads as 0 and fails.
                    pc = At(pat, ++p);
                    if (tc != pc)
                        return NoMatch;
                    continue;

                default:
                    if (tc != pc)
                        return NoMatch;
                    continue;

                case (byte)'?':
                    if (pathName && tc == '/')
                        return NoMatch;
                    continue;

                case (byte)'*':
                {
                    bool matchSlash;
                    if (At(pat, ++p) == '*')
                    {
                        int prevP = p - 2;
                        while (At(pat, ++p) == '*') { }
                        if (!pathName)
                        {
                            matchSlash = true;
                        }
                        else if ((prevP < 0 || pat[prevP] == '/') &&
                                 (At(pat, p) == 0 || At(pat, p) == '/' || (At(pat, p) == '\\' && At(pat, p + 1) == '/')))
                        {
                            // "**/" may match zero directories: try the rest right here first.
                            if (At(pat, p) == '/' && DoWild(pat, p + 1, text, t, pathName, fold) == Match)
                                return Match;
                            matchSlash = true;
                        }
                        else
                        {
                            // "**" not delimited by slashes is an ordinary '*'.
                            matchSlash = false;
                        }
                    }
                    else
                    {
                        matchSlash = !pathName;
                    }

                    if (p >= pat.Length)
                    {
                        if (!matchSlash && text.Slice(Math.Min(t, text.Length)).IndexOf((byte)'/') >= 0)
                            return NoMatch;
                        return Match;
                    }

                    if (!matchSlash && pat[p] == '/')
                    {
                        // A single '*' before '/' can only consume the rest of this path component.
                        int slash = text.Slice(t).IndexOf((byte)'/');
                        if (slash < 0)
                            return NoMatch;
                        t += slash;
                        break; // the for-loop increment consumes the '/' in both pattern and text
                    }

                    while (true)
                    {
                        if (tc == 0)
                            break;
                        byte np = pat[p];
                        if (!IsGlobSpecial(np))
                        {
                            // Skip ahead to the next occurrence of the literal that must follow the '*'.
                            byte want = fold ? ToLower(np) : np;
                            while ((tc = At(text, t)) != 0 && (matchSlash || tc != '/'))
                            {
                                if (fold)
                                    tc = ToLower(tc);
                                if (tc == want)
                                    break;
                                t++;
                            }
                            if (tc != want)
                                return NoMatch;
                        }

                        int m = DoWild(pat, p, text, t, pathName, fold);
                        if (m != NoMatch)
                        {
                            if (!matchSlash || m != AbortToStarStar)
                                return m;
                        }
                        else if (!matchSlash && tc == '/')
                        {
                            return AbortToStarStar;
                        }
                        tc = At(text, ++t);
                    }
                    return AbortAll;
                }

                case (byte)'[':
                {
                    pc = At(pat, ++p);
                    if (pc == '^')
                        pc = (byte)'!';
                    bool negated = pc == '!';
                    if (negated)
                        pc = At(pat, ++p);
                    byte prev = 0;
                    bool matched = false;
                    while (true)
                    {
                        if (pc == 0)
                            return AbortAll; // unterminated bracket: the whole pattern can never match
                        if (pc == '\\')
                        {
                            pc = At(pat, ++p);
                            if (pc == 0)
                                return AbortAll;
                            if (tc == pc)
                                matched = true;
                        }
                        else if (pc == '-' && prev != 0 && At(pat, p + 1) != 0 && At(pat, p + 1) != ']')
                        {
                            pc = At(pat, ++p);
                            if (pc == '\\')
                            {
                                pc = At(pat, ++p);
                                if (pc == 0)
                                    return AbortAll;
                            }
                            if (tc <= pc && tc >= prev)
                                matched = true;
                            else if (fold && IsLower(tc))
                            {
                                byte upper = (byte)(tc - 32);
                                if (upper <= pc && upper >= prev)
                                    matched = true;
                            }
                            pc = 0; // a range end cannot start another range
                        }
                        else if (pc == '[' && At(pat, p + 1) == ':')
                        {
                            p += 2;
                            int s = p;
                            while ((pc = At(pat, p)) != 0 && pc != ']')
                                p++;
                            if (pc == 0)
                                return AbortAll;
                            int len = p - s - 1;
                            if (len < 0 || pat[p - 1] != ':')
                            {
                                // No ":]": the '[' is an ordinary member of the set.
                                p = s - 2;
                                pc = (byte)'[';
                                if (tc == pc)
                                    matched = true;
                                goto Next;
                            }
                            int cls = ClassMatch(pat.Slice(s, len), tc, fold);
                            if (cls < 0)
                                return AbortAll; // unknown class name: git treats the pattern as malformed
                            if (cls > 0)
                                matched = true;
                            pc = 0;
                        }
                        else if (tc == pc)
                        {
                            matched = true;
                        }

                    Next:
                        prev = pc;
                        pc = At(pat, ++p);
                        if (pc == ']')
                            break;
                    }
                    if (matched == negated || (pathName && tc == '/'))
                        return NoMatch;
                    continue;
                }
            }
        }

        return t < text.Length ? NoMatch : Match;
    }

    // 1 = member, 0 = not a member, -1 = unknown class. ASCII only, like git's own ctype table.
    private static int ClassMatch(ReadOnlySpan<byte> name, byte c, bool fold)
    {
        bool upper = IsUpper(c), lower = IsLower(c), digit = c >= '0' && c <= '9';
        bool alpha = upper || lower;
        bool r;
        if (name.SequenceEqual("alnum"u8)) r = alpha || digit;
        else if (name.SequenceEqual("alpha"u8)) r = alpha;
        else if (name.SequenceEqual("blank"u8)) r = c == ' ' || c == '\t';
        else if (name.SequenceEqual("cntrl"u8)) r = c < 0x20 || c == 0x7f;
        else if (name.SequenceEqual("digit"u8)) r = digit;
        else if (name.SequenceEqual("graph"u8)) r = c > 0x20 && c < 0x7f;
        else if (name.SequenceEqual("lower"u8)) r = lower;
        else if (name.SequenceEqual("print"u8)) r = c >= 0x20 && c < 0x7f;
        else if (name.SequenceEqual("punct"u8)) r = c > 0x20 && c < 0x7f && !alpha && !digit;
        else if (name.SequenceEqual("space"u8)) r = c == ' ' || c == '\t' || c == '\n' || c == '\r';
        else if (name.SequenceEqual("upper"u8)) r = upper || (fold && lower);
        else if (name.SequenceEqual("xdigit"u8)) r = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        else return -1;
        return r ? 1 : 0;
    }
}
