using System.Security.Cryptography;

namespace Plandex.Grains.Encryption;

/// <summary>
/// A key file that every silo sharing a key directory must agree on, created once: written whole under a temporary
/// name, then published with link(2), which fails rather than replace a file already there. A silo starting beside
/// another therefore sees no file or the one whole key, never a half-written one (create-then-write let one read an
/// empty file) nor a key replaced after it was read (<c>File.Move</c> without overwrite let two silos each publish
/// their own: <c>KeyFileTests</c>). Hand-written for that guarantee.
/// </summary>
internal static class KeyFile
{
    private const int AlreadyExists = 17; // EEXIST

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int link([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string existing,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string created);

    /// <summary>
    /// A server key in <c>Security:KeyDirectory</c> (the email-lookup key, the cluster-call key): created once, then
    /// read by every silo. The caller owns (and wipes, when it can) the returned 32 bytes.
    /// </summary>
    public static byte[] ReadServerKey(string directory, string name)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name);
        CreateOnce(path); // whole or absent, even with other silos starting beside this one
        var key = File.ReadAllBytes(path);
        return key.Length == 32 ? key : throw new InvalidOperationException($"Security:KeyDirectory: {path} is not a 32-byte key");
    }

    /// <summary>The 32-byte key at <paramref name="path"/> in a fresh pinned array (the caller wipes it), or null if there is none.</summary>
    public static byte[]? ReadIfExists(string path)
    {
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

    /// <summary>
    /// Destroys a key file for good (idempotent): overwrites it with zeros, flushes, then deletes it. On copy-on-write
    /// or flash storage the overwrite is best effort; the deletion is what the guarantee rests on.
    /// </summary>
    public static void Destroy(string path)
    {
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

    /// <summary>Publishes 32 fresh random bytes at <paramref name="path"/> unless a key is already there.</summary>
    public static void CreateOnce(string path)
    {
        if (File.Exists(path)) return;
        var dir = Path.GetDirectoryName(path)!;
        var key = GC.AllocateArray<byte>(32, pinned: true);
        var temp = Path.Combine(dir, $".{Guid.NewGuid():N}.tmp");
        try
        {
            RandomNumberGenerator.Fill(key);
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var f = new FileStream(temp, create))
            {
                f.Write(key);
                f.Flush(flushToDisk: true);
            }
            // If another silo published first, keep theirs (all silos must share one key). Windows' move never replaces.
            if (OperatingSystem.IsWindows())
            {
                try { File.Move(temp, path, overwrite: false); }
                catch (IOException) when (File.Exists(path)) { }
            }
            else if (link(temp, path) != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != AlreadyExists)
                throw new IOException($"cannot publish the key file {path} (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()})");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
