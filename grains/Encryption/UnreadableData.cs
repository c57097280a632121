using System.Security.Cryptography;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Encryption;

/// <summary>
/// Recognises a failure caused by stored data that cannot be decrypted: a damaged row or wrapped key (the AES-GCM tag
/// does not match) or a key already destroyed. Callers that serve many subjects at once (an org's plans, an account's
/// orgs, a deletion) use it to work around one bad subject instead of failing for all of them.
/// </summary>
internal static class UnreadableData
{
    /// <summary>True if <paramref name="e"/> or an inner exception (Orleans wraps activation failures) is such a cause.</summary>
    public static bool IsCause(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is UnreadableDataException or CryptographicException or KeyDestroyedException) return true;
        return false;
    }
}
