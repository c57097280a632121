using System.Text;

namespace Plandex.Client.Ignore;

/// <summary>git's quote_c_style with the default core.quotePath=true, so output lines match git's byte for byte
/// and a name containing a newline cannot forge an extra line.</summary>
public static class GitQuote
{
    public static string CQuote(string path)
    {
        // Fast path without allocation: printable ASCII other than '"' and '\\' never needs quoting.
        bool plain = true;
        foreach (char ch in path)
        {
            if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            {
                plain = false;
                break;
            }
        }
        if (plain)
            return path;

        byte[] bytes = Encoding.UTF8.GetBytes(path);
        int i = 0;
        while (i < bytes.Length && !MustQuote(bytes[i]))
            i++;
        if (i == bytes.Length)
            return path;

        var sb = new StringBuilder(bytes.Length + 8);
        sb.Append('"');
        foreach (byte b in bytes)
        {
            if (!MustQuote(b))
            {
                sb.Append((char)b);
                continue;
            }
            sb.Append('\\');
            switch (b)
            {
                case 0x07: sb.Append('a'); break;
                case 0x08: sb.Append('b'); break;
                case 0x09: sb.Append('t'); break;
                case 0x0a: sb.Append('n'); break;
                case 0x0b: sb.Append('v'); break;
                case 0x0c: sb.Append('f'); break;
                case 0x0d: sb.Append('r'); break;
                case (byte)'"': sb.Append('"'); break;
                case (byte)'\\': sb.Append('\\'); break;
                default:
                    sb.Append((char)('0' + ((b >> 6) & 7)));
                    sb.Append((char)('0' + ((b >> 3) & 7)));
                    sb.Append((char)('0' + (b & 7)));
                    break;
            }
        }
        sb.Append('"');
        return sb.ToString();
    }

    private static bool MustQuote(byte b) => b < 0x20 || b == '"' || b == '\\' || b >= 0x7f;
}
