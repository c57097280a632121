using Orleans.Runtime;

namespace Plandex.GrainInterfaces;

/// <summary>
/// A grain's stored state cannot be decrypted: its row or wrapped key is damaged, or its key was destroyed. Thrown by
/// the sealed grain storage with a message naming the grain and never a secret; the cause is in the silo's log.
/// </summary>
/// <remarks>
/// It derives from <see cref="OrleansException"/> on purpose: Orleans hands a storage failure of that kind to the
/// caller as it is, while any other exception is wrapped in a message that spells out the server's stack trace.
/// </remarks>
[GenerateSerializer]
public sealed class UnreadableDataException : OrleansException
{
    public UnreadableDataException(string message) : base(message) { }
}
