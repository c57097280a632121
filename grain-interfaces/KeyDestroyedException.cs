namespace Plandex.GrainInterfaces;

/// <summary>
/// Data could not be decrypted because its key was destroyed on purpose: the subject was deleted, or the data
/// comes from a backup older than the retention window. This is crypto-shredding working, not a fault.
/// </summary>
[GenerateSerializer]
public sealed class KeyDestroyedException : Exception
{
    public KeyDestroyedException(string message) : base(message) { }
}
