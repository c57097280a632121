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

    public static void Save(StoredSession session)
    {
        var dir = Directory;
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(dir);
        else System.IO.Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var tmp = Path_ + ".tmp";
        File.Delete(tmp);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var f = new FileStream(tmp, create)) JsonSerializer.Serialize(f, session);
        File.Move(tmp, Path_, overwrite: true);
    }

    public static void Delete() => File.Delete(Path_);
}
