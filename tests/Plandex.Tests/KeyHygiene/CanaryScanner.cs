using System.Security.Cryptography;
using System.Text;

namespace Plandex.Tests.KeyHygiene;

/// <summary>
/// Searches bytes, files and streams for every form a canary key could take: UTF-8, UTF-16LE, base64 (each of the
/// three alignments the canary can have inside a longer base64 text, standard and URL alphabet) and hex (lower and
/// upper); the text forms (base64, hex) also as UTF-16LE, the way .NET strings hold them in memory.
/// Streams are read in blocks with an overlap of the longest pattern, so a file or a memory dump of any size is
/// scanned without loading it whole; each occurrence is counted once.
/// </summary>
public sealed class CanaryScanner
{
    private const int BlockSize = 16 * 1024 * 1024;
    private readonly (string Form, byte[] Bytes)[] _patterns;
    private readonly int _maxLength;

    public CanaryScanner(string canary)
    {
        Canary = canary;
        var utf8 = Encoding.UTF8.GetBytes(canary);
        var text = new List<(string, string)>();
        for (var align = 0; align < 3; align++)
        {
            var b64 = Base64Core(utf8, align);
            text.Add(($"base64[{align}]", b64));
            var url = b64.Replace('+', '-').Replace('/', '_');
            if (url != b64) text.Add(($"base64url[{align}]", url));
        }
        text.Add(("hex", Convert.ToHexStringLower(utf8)));
        text.Add(("HEX", Convert.ToHexString(utf8)));
        var patterns = new List<(string, byte[])> { ("utf8", utf8), ("utf16le", Encoding.Unicode.GetBytes(canary)) };
        foreach (var (form, s) in text)
        {
            patterns.Add((form, Encoding.ASCII.GetBytes(s)));
            patterns.Add((form + "/utf16le", Encoding.Unicode.GetBytes(s)));
        }
        _patterns = patterns.ToArray();
        _maxLength = _patterns.Max(p => p.Bytes.Length);
    }

    /// <summary>A scanner for explicit patterns (e.g. several secrets at once, binary keys); see Deletion's SecretScanner.</summary>
    public CanaryScanner(string label, IEnumerable<(string Form, byte[] Bytes)> patterns)
    {
        Canary = label;
        _patterns = patterns.ToArray();
        _maxLength = _patterns.Max(p => p.Bytes.Length);
    }

    public string Canary { get; }
    public IReadOnlyList<string> Forms => _patterns.Select(p => $"{p.Form}={Encoding.Latin1.GetString(p.Bytes).Replace("\0", "")}").ToList();

    /// <summary>A fresh canary: shaped like a provider key, but not like anything the log redactor masks
    /// (it masks "sk-..."), so a key that reached a log message would be seen here rather than hidden.</summary>
    public static string NewCanary() => "kh-canary-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>
    /// The base64 characters that depend only on the canary when it starts <paramref name="align"/> bytes into a
    /// 3-byte group: drop the first group when it mixes in preceding bytes, and a last partial group.
    /// </summary>
    private static string Base64Core(byte[] data, int align)
    {
        var padded = new byte[align + data.Length];
        data.CopyTo(padded, align);
        var full = (padded.Length / 3) * 3;
        var start = align == 0 ? 0 : 3;
        return Convert.ToBase64String(padded, start, full - start);
    }

    public ScanResult Scan(ReadOnlySpan<byte> data)
    {
        var result = new ScanResult();
        foreach (var (form, p) in _patterns) result.Add(form, Count(data, p, 0));
        return result;
    }

    public ScanResult Scan(string text) => Scan(Encoding.UTF8.GetBytes(text));

    public ScanResult ScanFile(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        return ScanStream(f);
    }

    public ScanResult ScanStream(Stream stream)
    {
        var result = new ScanResult();
        var overlap = _maxLength - 1;
        var buffer = new byte[BlockSize + overlap];
        var carried = 0; // bytes at the start of the buffer kept from the previous block (already searched)
        while (true)
        {
            var filled = carried;
            while (filled < buffer.Length)
            {
                var n = stream.Read(buffer, filled, buffer.Length - filled);
                if (n == 0) break;
                filled += n;
            }
            if (filled == carried) break;
            var span = buffer.AsSpan(0, filled);
            // A match lying wholly inside the carried bytes was counted in the previous block.
            foreach (var (form, p) in _patterns) result.Add(form, Count(span, p, carried));
            if (filled < buffer.Length) break;
            var keep = Math.Min(overlap, filled);
            Buffer.BlockCopy(buffer, filled - keep, buffer, 0, keep);
            carried = keep;
        }
        return result;
    }

    /// <summary>Every file under <paramref name="dir"/>; files that vanish meanwhile are skipped.</summary>
    public (ScanResult Result, int Files, long Bytes) ScanDirectory(string dir)
    {
        var result = new ScanResult();
        int files = 0;
        long bytes = 0;
        if (!Directory.Exists(dir)) return (result, 0, 0);
        foreach (var path in Directory.EnumerateFiles(dir, "*", new EnumerationOptions
                 { RecurseSubdirectories = true, IgnoreInaccessible = false, AttributesToSkip = 0 }))
        {
            try
            {
                // Sockets and FIFOs (e.g. the runtime's diagnostics socket in TMPDIR) report length 0, as do
                // empty files: nothing to read in either.
                var length = new FileInfo(path).Length;
                files++;
                if (length == 0) continue;
                var r = ScanFile(path);
                bytes += length;
                if (r.Total > 0) result.Where.Add(path);
                result.Merge(r);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { }
        }
        return (result, files, bytes);
    }

    private static int Count(ReadOnlySpan<byte> data, byte[] pattern, int carried)
    {
        var count = 0;
        var offset = 0;
        while (true)
        {
            var i = data[offset..].IndexOf(pattern);
            if (i < 0) return count;
            var at = offset + i;
            if (at + pattern.Length > carried) count++;
            offset = at + 1;
        }
    }
}

/// <summary>Occurrences per form, plus where they were found (for a failure message).</summary>
public sealed class ScanResult
{
    public Dictionary<string, long> ByForm { get; } = [];
    public List<string> Where { get; } = [];
    public long Total => ByForm.Values.Sum();

    public void Add(string form, long n)
    {
        if (n == 0) return;
        ByForm[form] = ByForm.GetValueOrDefault(form) + n;
    }

    public void Merge(ScanResult other)
    {
        foreach (var (k, v) in other.ByForm) Add(k, v);
    }

    public override string ToString() =>
        Total == 0 ? "0" : $"{Total} ({string.Join(", ", ByForm.Select(kv => $"{kv.Key}: {kv.Value}"))})" +
                           (Where.Count > 0 ? " in " + string.Join(", ", Where.Take(5)) : "");
}
