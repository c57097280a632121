using Orleans.Runtime;

namespace Plandex.GrainInterfaces;

/// <summary>
/// The database failed a grain's work (down, timed out, or refusing the statement). The message names the grain only;
/// the database's own error is in the silo's log. Derives from <see cref="OrleansException"/> for the same reason as
/// <see cref="UnreadableDataException"/>.
/// </summary>
[GenerateSerializer]
public sealed class DatabaseFailureException : OrleansException
{
    public DatabaseFailureException(string message) : base(message) { }
}
