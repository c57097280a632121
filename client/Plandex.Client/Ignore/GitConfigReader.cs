using System.Text;

namespace Plandex.Client.Ignore;

/// <summary>
/// Just enough of git's config-file syntax to read <c>core.excludesFile</c> and <c>core.ignoreCase</c>:
/// sections, subsections, quoting, escapes, comments and line continuations. Includes are not followed.
/// </summary>
internal static class GitConfigReader
{
    /// <summary>Returns (lower-cased "section.key", value) pairs in file order; a bare key has a null value.</summary>
    public static List<KeyValuePair<string, string?>> ReadFile(string path)
    {
        var result = new List<KeyValuePair<string, string?>>();
        string text;
        try
        {
            if (!File.Exists(path))
                return result;
            text = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (IOException) { return result; }
        catch (UnauthorizedAccessException) { return result; }
        Parse(text, result);
        return result;
    }

    public static void Parse(string s, List<KeyValuePair<string, string?>> output)
    {
        string section = "";
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '\n' || c == ' ' || c == '\t' || c == '\r' || c == '\uFEFF')
            {
                i++;
                continue;
            }
            if (c == '#' || c == ';')
            {
                SkipLine(s, ref i);
                continue;
            }
            if (c == '[')
            {
                section = ParseSectionHeader(s, ref i);
                SkipLine(s, ref i);
                continue;
            }
            if (!char.IsAsciiLetter(c))
            {
                SkipLine(s, ref i); // malformed line: git would refuse the file; skipping is the safe reading here
                continue;
            }
            int start = i;
            while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || s[i] == '-'))
                i++;
            string key = s[start..i].ToLowerInvariant();
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t'))
                i++;
            string? value = null;
            if (i < s.Length && s[i] == '=')
            {
                i++;
                value = ParseValue(s, ref i);
            }
            else
            {
                SkipLine(s, ref i);
            }
            output.Add(new(section.Length == 0 ? key : section + "." + key, value));
        }
    }

    private static void SkipLine(string s, ref int i)
    {
        while (i < s.Length && s[i] != '\n')
            i++;
    }

    // "[core]" -> "core"; "[remote \"origin\"]" -> "remote.origin" (subsection case kept); "[a.b]" -> "a.b".
    private static string ParseSectionHeader(string s, ref int i)
    {
        i++; // '['
        var name = new StringBuilder();
        while (i < s.Length && s[i] != ']' && s[i] != '"' && s[i] != '\n')
        {
            if (s[i] != ' ' && s[i] != '\t')
                name.Append(char.ToLowerInvariant(s[i]));
            i++;
        }
        if (i < s.Length && s[i] == '"')
        {
            i++;
            name.Append('.');
            while (i < s.Length && s[i] != '"' && s[i] != '\n')
            {
                if (s[i] == '\\' && i + 1 < s.Length)
                    i++;
                name.Append(s[i]);
                i++;
            }
            while (i < s.Length && s[i] != ']' && s[i] != '\n')
                i++;
        }
        if (i < s.Length && s[i] == ']')
            i++;
        return name.ToString();
    }

    private static string ParseValue(string s, ref int i)
    {
        var sb = new StringBuilder();
        bool quoted = false;
        int trimTo = -1; // length to cut back to if only unquoted whitespace follows
        while (i < s.Length && (s[i] == ' ' || s[i] == '\t'))
            i++;
        while (i < s.Length)
        {
            char c = s[i++];
            if (c == '\n')
                break;
            if (c == '\r' && i < s.Length && s[i] == '\n')
                continue;
            if (!quoted && (c == ' ' || c == '\t'))
            {
                if (trimTo < 0)
                    trimTo = sb.Length;
                sb.Append(c);
                continue;
            }
            if (!quoted && (c == '#' || c == ';'))
            {
                SkipLine(s, ref i);
                break;
            }
            trimTo = -1;
            if (c == '"')
            {
                quoted = !quoted;
                continue;
            }
            if (c == '\\' && i < s.Length)
            {
                char e = s[i++];
                switch (e)
                {
                    case '\n': continue; // line continuation
                    case '\r' when i < s.Length && s[i] == '\n': i++; continue;
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'b': sb.Append('\b'); break;
                    default: sb.Append(e); break; // covers \\ and \"
                }
                continue;
            }
            sb.Append(c);
        }
        if (trimTo >= 0)
            sb.Length = trimTo;
        return sb.ToString();
    }

    /// <summary>git's boolean reading: no value, true/yes/on or a non-zero number is true.</summary>
    public static bool? ParseBool(string? v)
    {
        if (v == null)
            return true;
        switch (v.Trim().ToLowerInvariant())
        {
            case "true": case "yes": case "on": return true;
            case "false": case "no": case "off": case "": return false;
        }
        return long.TryParse(v.Trim(), out long n) ? n != 0 : null;
    }
}
