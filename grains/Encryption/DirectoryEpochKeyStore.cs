using System.Globalization;

namespace Plandex.Grains.Encryption;

/// <summary>
/// Epoch keys as files <c>epoch-&lt;id&gt;.kek</c> (mode 0600) in one directory (mode 0700). Every silo of a
/// cluster must mount the same directory, and it must never be backed up for longer than the retention window.
/// Destroying overwrites the file with zeros, flushes, then deletes it (<see cref="KeyFile.Destroy"/>).
/// </summary>
public sealed class DirectoryEpochKeyStore : IEpochKeyStore
{
    private const string Prefix = "epoch-";
    private const string Suffix = ".kek";
    private readonly string _dir;

    public DirectoryEpochKeyStore(string directory)
    {
        _dir = directory;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    public IReadOnlyList<long> List() =>
        Directory.EnumerateFiles(_dir, Prefix + "*" + Suffix)
            .Select(p => Path.GetFileName(p)[Prefix.Length..^Suffix.Length])
            .Select(s => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : (long?)null)
            .OfType<long>().Order().ToList();

    public byte[]? Read(long epoch) => KeyFile.ReadIfExists(PathOf(epoch));

    public void EnsureCreated(long epoch) => KeyFile.CreateOnce(PathOf(epoch));

    public void Destroy(long epoch) => KeyFile.Destroy(PathOf(epoch));

    private string PathOf(long epoch) => Path.Combine(_dir, Prefix + epoch.ToString(CultureInfo.InvariantCulture) + Suffix);
}
