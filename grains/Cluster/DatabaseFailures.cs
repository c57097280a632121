using System.Data.Common;
using Microsoft.Extensions.Logging;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Cluster;

/// <summary>
/// The one place a database failure becomes what a caller sees: <see cref="DatabaseFailureException"/>, one line
/// naming the grain, with the cause logged here. Npgsql's exceptions cannot cross Orleans' wire (the caller got a
/// <c>CodecNotFoundException</c> naming <c>PostgresException</c> instead of any error about its call), and Orleans
/// wraps a storage provider's other failures in a text holding the server's stack trace.
/// </summary>
/// <remarks>
/// As a grain call filter it covers every grain method. Activation runs outside any call filter:
/// <see cref="Encryption.SealedGrainStorage"/> calls <see cref="Failure"/> for grain-state reads and writes, and a
/// grain's own <c>OnActivateAsync</c> runs its database work through <see cref="Activating"/>.
/// </remarks>
public sealed partial class DatabaseFailures(ILogger<DatabaseFailures> log) : IIncomingGrainCallFilter
{
    public Task Invoke(IIncomingGrainCallContext context)
    {
        Task call;
        try { call = context.Invoke(); }
        catch (DbException e) { throw Failure(log, context.TargetId, "the database failed", e); }
        // Most calls complete here: no second state machine for them.
        return call.IsCompletedSuccessfully ? Task.CompletedTask : Awaited(call, context.TargetId);
    }

    private async Task Awaited(Task call, GrainId grain)
    {
        try { await call; }
        catch (DbException e) { throw Failure(log, grain, "the database failed", e); }
    }

    /// <summary>
    /// Runs a grain's own database work in <c>OnActivateAsync</c>: the caller whose call activated the grain gets
    /// the same one line a failing grain method gives it.
    /// </summary>
    public static async Task Activating(ILogger log, GrainId grain, Func<Task> work)
    {
        try { await work(); }
        catch (DbException e) { throw Failure(log, grain, "the database failed", e); }
    }

    /// <summary>Logs <paramref name="cause"/> and returns the exception for the caller: "plan 1a2b3c4d: {what} (…)".</summary>
    public static DatabaseFailureException Failure(ILogger log, GrainId grain, string what, DbException cause)
    {
        var name = Name(grain);
        LogFailed(log, cause, name, what);
        return new DatabaseFailureException($"{name}: {what} (its operator can see why in the silo's log)");
    }

    /// <summary>The grain's type and, for a Guid key, its first 8 digits. Other keys are never printed: nothing says they hold no secret.</summary>
    public static string Name(GrainId grain) =>
        grain.TryGetGuidKey(out var id, out _) ? $"{grain.Type} {id.ToString("N")[..8]}" : grain.Type.ToString();

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Grain}: {What}")]
    private static partial void LogFailed(ILogger logger, Exception cause, string grain, string what);
}
