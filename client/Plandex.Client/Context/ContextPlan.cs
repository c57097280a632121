using System.Text;
using Plandex.Client.Ignore;
using Plandex.GrainInterfaces;

namespace Plandex.Client.Context;

/// <summary>Why a path was not loaded.</summary>
public enum SkipReason { Ignored, Binary, TooLarge, SymlinkOutsideProject, Unreadable }

public sealed record SkippedFile(string Path, SkipReason Reason, string Detail);

/// <summary>The files a <c>load</c> will send (already read and checked) and those it will not, with why.</summary>
public sealed record ContextPlan(IReadOnlyList<ContextUpload> Uploads, IReadOnlyList<SkippedFile> Skipped);

/// <summary>
/// Decides what <c>plandex load</c> reads. Files pass the ignore engine first (never read when ignored, except a
/// file named explicitly with --force); then binaries, files over the size limit and symlinks leading outside the
/// project root are skipped. Paths sent are relative to the project root, '/'-separated.
/// </summary>
public static class ContextPlanner
{
    public const long DefaultMaxBytes = 25L * 1024 * 1024;
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    /// <summary>The project root: the nearest directory upward holding a .git, else the current directory.</summary>
    public static string ProjectRoot(string from)
    {
        for (var d = new DirectoryInfo(Path.GetFullPath(from)); d is not null; d = d.Parent)
            if (Directory.Exists(Path.Combine(d.FullName, ".git")) || File.Exists(Path.Combine(d.FullName, ".git"))) return d.FullName;
        return Path.GetFullPath(from);
    }

    public static ContextPlan Plan(string root, IReadOnlyList<string> paths, bool recursive, bool force, long maxBytes = DefaultMaxBytes,
        IgnoreOptions? options = null)
    {
        var uploads = new List<ContextUpload>();
        var skipped = new List<SkippedFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var raw in paths)
        {
            var full = Path.GetFullPath(raw);
            if (Directory.Exists(full) && !recursive && (File.GetAttributes(full) & FileAttributes.ReparsePoint) == 0)
                throw new InvalidOperationException($"'{raw}' is a directory: use -r to load it recursively");
            LoadableFileSet set;
            try { set = LoadableFiles.Enumerate(root, full, recursive, options ?? IgnoreOptions.FromEnvironment()); }
            catch (ArgumentException) { throw new InvalidOperationException($"'{raw}' is outside the project root {root}"); }
            catch (FileNotFoundException) { throw new InvalidOperationException($"'{raw}' does not exist"); }

            var files = set.Files.ToList();
            foreach (var s in set.Skipped)
            {
                // --force reaches only a file named on the command line, never one found by recursion.
                var named = !s.IsDirectory && Path.GetFullPath(Path.Combine(root, s.Path)) == full;
                if (force && named) files.Add(s.Path);
                else skipped.Add(new SkippedFile(s.Path, SkipReason.Ignored, $"{s.Rule.Source}:{s.Rule.LineNumber}:{s.Rule.Pattern}"));
            }
            foreach (var rel in files)
            {
                if (!seen.Add(rel)) continue;
                var file = Read(root, rel, maxBytes, out var reason, out var detail);
                if (file is null) skipped.Add(new SkippedFile(rel, reason, detail));
                else uploads.Add(new ContextUpload(rel, file));
            }
        }
        return new ContextPlan(uploads, skipped);
    }

    private static string? Read(string root, string rel, long maxBytes, out SkipReason reason, out string detail)
    {
        reason = SkipReason.Unreadable;
        detail = "";
        var path = Path.Combine(root, rel);
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null)
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                var inside = target is not null && target.Exists && target is FileInfo
                    && Path.GetFullPath(target.FullName).StartsWith(Path.TrimEndingDirectorySeparator(root) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
                if (!inside)
                {
                    reason = SkipReason.SymlinkOutsideProject;
                    detail = $"-> {info.LinkTarget}";
                    return null;
                }
                info = (FileInfo)target!;
            }
            if (info.Length > maxBytes)
            {
                reason = SkipReason.TooLarge;
                detail = $"{info.Length} bytes > {maxBytes}";
                return null;
            }
            var bytes = File.ReadAllBytes(info.FullName);
            if (Array.IndexOf(bytes, (byte)0, 0, Math.Min(bytes.Length, 8000)) >= 0)
            {
                reason = SkipReason.Binary;
                detail = "contains NUL bytes";
                return null;
            }
            try { return StrictUtf8.GetString(bytes.AsSpan(bytes.AsSpan().StartsWith(new byte[] { 0xEF, 0xBB, 0xBF }) ? 3 : 0)); }
            catch (DecoderFallbackException)
            {
                reason = SkipReason.Binary;
                detail = "not UTF-8 text";
                return null;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            detail = e.Message;
            return null;
        }
    }

    /// <summary>Groups uploads into calls of bounded size (grain messages stay well under Orleans' limit).</summary>
    public static IEnumerable<List<ContextUpload>> Batches(IReadOnlyList<ContextUpload> uploads, long maxBatchChars = 4 * 1024 * 1024, int maxBatchItems = 200)
    {
        var batch = new List<ContextUpload>();
        long size = 0;
        foreach (var u in uploads)
        {
            if (batch.Count > 0 && (size + u.Body.Length > maxBatchChars || batch.Count >= maxBatchItems))
            {
                yield return batch;
                batch = [];
                size = 0;
            }
            batch.Add(u);
            size += u.Body.Length;
        }
        if (batch.Count > 0) yield return batch;
    }
}
