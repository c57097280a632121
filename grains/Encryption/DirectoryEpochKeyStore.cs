using System.Globalization;
using System.Security.Cryptography;

namespace Plandex.Grains.Encryption;

/// <summary>
/// Epoch keys as files <c>epoch-&lt;id&gt;.kek</c> (mode 0600) in one directory (mode 0700). Every silo of a
/// cluster must mount the same directory, and it must never be backed up for longer than the retention window.
/// Destroying overwrites the file with zeros, flushes, then deletes it (on copy-on-write or flash storage the
/// overwrite is best effort; the deletion is what the guarantee rests on).
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

    public byte[]? Read(long epoch)
    {
        var path = PathOf(epoch);
        var key = GC.AllocateArray<byte>(32, pinned: true);
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            if (f.Length != 32) throw new InvalidDataException($"{path} is not a 32-byte key");
            f.ReadExactly(key);
            return key;
        }
        catch (FileNotFoundException) { return null; }
    }

    public void EnsureCreated(long epoch) => KeyFile.CreateOnce(PathOf(epoch));

    public void Destroy(long epoch)
    {
        var path = PathOf(epoch);
        try
        {
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
                f.Write(new byte[f.Length]);
                f.Flush(flushToDisk: true);
            }
            File.Delete(path);
        }
        catch (FileNotFoundException) { }
    }

    private string PathOf(long epoch) => Path.Combine(_dir, Prefix + epoch.ToString(CultureInfo.InvariantCulture) + Suffix);
}
