using System.Text.Json;

namespace Plandex.Client.Sessions;

/// <summary>
/// The session file: <c>$PLANDEX_CONFIG_DIR</c>, else <c>$XDG_CONFIG_HOME/plandex</c>, else <c>~/.config/plandex</c>.
/// Directory 0700 and file 0600 from creation (never world-readable, not even briefly).
/// </summary>
public static class SessionFile
{
    public static string Directory =>
        Environment.GetEnvironmentVariable("PLANDEX_CONFIG_DIR") is { Length: > 0 } d ? d
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CONFIG_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"), "plandex");

    public static string Path_ => Path.Combine(Directory, "session.json");

    public static StoredSession? Load()
    {
        if (!File.Exists(Path_)) return null;
        try { return JsonSerializer.Deserialize<StoredSession>(File.ReadAllText(Path_)); }
        catch (JsonException) { return null; }
    }

    public static void Save(StoredSession session) => Keeping(() =>
    {
        var tmp = Path_ + ".tmp";
        using (var f = CreatePrivate(tmp)) JsonSerializer.Serialize(f, session);
        File.Move(tmp, Path_, overwrite: true);
    });

    /// <summary>
    /// Fails, as <see cref="Save"/> would, if the session cannot be kept here: checked before signing up or in, so a
    /// directory the CLI cannot write does not leave an account made or a code spent with its token lost.
    /// </summary>
    public static void EnsureWritable() => Keeping(() =>
    {
        var probe = Path_ + ".probe";
        using (CreatePrivate(probe)) { }
        File.Delete(probe);
    });

    /// <summary>The directory (0700) and a new file at <paramref name="path"/> (0600 from creation), open for writing.</summary>
    private static FileStream CreatePrivate(string path)
    {
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(Directory);
        else System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Delete(path);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return new FileStream(path, create);
    }

    /// <summary>A file-system failure as one line naming the directory (the token is never in it).</summary>
    private static void Keeping(Action step)
    {
        try { step(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot keep the session in {Directory}: {e.Message}");
        }
    }

    public static void Delete() => File.Delete(Path_);
}
