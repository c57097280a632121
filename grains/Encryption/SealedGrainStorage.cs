using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Orleans.Serialization;
using Orleans.Storage;
using Plandex.GrainInterfaces;
using Plandex.Grains.Cluster;

namespace Plandex.Grains.Encryption;

/// <summary>
/// Grain storage that encrypts every grain state with the data key of the grain's subject before it reaches the
/// inner (AdoNet) storage, so plan, account and org state never reach PostgreSQL in the clear. State is
/// serialized with Orleans' binary serializer, then sealed by <see cref="Envelope"/>; concurrency (ETags) and
/// clearing are the inner storage's.
/// </summary>
/// <remarks>
/// Failures leave here as <see cref="UnreadableDataException"/> or <see cref="DatabaseFailureException"/>, each
/// an <c>OrleansException</c> with a one-line message: Orleans wraps any other exception from a storage provider in a
/// message holding the server's stack trace, and sends that text to the caller (a client-library user, when the
/// failure stops a grain's activation). Their cause is logged here and not attached: Orleans sends an exception's
/// inner exceptions to the caller too, and cannot serialize some (Npgsql's).
/// </remarks>
public sealed partial class SealedGrainStorage(IGrainStorage inner, Envelope envelope, Serializer serializer, ILogger<SealedGrainStorage> log) : IGrainStorage
{
    // Each step runs whole inside Database(): the data key's own reads and writes (KeyRing) reach PostgreSQL too.
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Database(grainId, "read", async () =>
        {
            var stored = new GrainState<SealedState>(new SealedState());
            await inner.ReadStateAsync(stateName, grainId, stored);
            grainState.ETag = stored.ETag;
            grainState.RecordExists = stored.RecordExists;
            if (stored.RecordExists && stored.State?.Blob is { Length: > 0 } blob)
                grainState.State = serializer.Deserialize<T>(await Open(grainId, stateName, blob));
        });

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Database(grainId, "written", async () =>
        {
            var plain = serializer.SerializeToArray(grainState.State);
            var stored = new GrainState<SealedState>
            {
                ETag = grainState.ETag,
                RecordExists = grainState.RecordExists,
                // The first write of a grain's state creates its subject's data key; later writes need it to exist.
                State = new SealedState { Blob = await envelope.Seal(SubjectOf(stateName, grainId), "state:" + stateName, plain, create: !grainState.RecordExists) },
            };
            await inner.WriteStateAsync(stateName, grainId, stored);
            grainState.ETag = stored.ETag;
            grainState.RecordExists = stored.RecordExists;
        });

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Database(grainId, "cleared", async () =>
        {
            var stored = new GrainState<SealedState> { ETag = grainState.ETag, RecordExists = grainState.RecordExists };
            await inner.ClearStateAsync(stateName, grainId, stored);
            grainState.ETag = stored.ETag;
            grainState.RecordExists = stored.RecordExists;
        });

    /// <summary>The state's plaintext, or <see cref="UnreadableDataException"/> naming the grain (the cause logged).</summary>
    private async Task<byte[]> Open(GrainId grainId, string stateName, byte[] blob)
    {
        var name = DatabaseFailures.Name(grainId);
        try { return await envelope.Open(SubjectOf(stateName, grainId), "state:" + stateName, blob); }
        catch (KeyDestroyedException e)
        {
            LogUnreadable(log, e, name);
            throw new UnreadableDataException($"{name} cannot be read: its key was destroyed (it was deleted, or this row outlived the backup window)");
        }
        catch (CryptographicException e)
        {
            LogUnreadable(log, e, name);
            throw new UnreadableDataException($"{name} cannot be read: its stored state or its data key is damaged (its operator can restore the row from a backup)");
        }
    }

    /// <summary>A storage step, a database failure in it turned into one line for the caller (the cause logged).</summary>
    private async Task Database(GrainId grainId, string done, Func<Task> step)
    {
        try { await step(); }
        catch (DbException e) { throw DatabaseFailures.Failure(log, grainId, $"its state could not be {done}: the database failed", e); }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Grain}: its state cannot be decrypted")]
    private static partial void LogUnreadable(ILogger logger, Exception cause, string grain);


    /// <summary>Which data key a state belongs to: the grain's own (plan, account, org), by its Guid key.</summary>
    private static DataSubject SubjectOf(string stateName, GrainId grainId)
    {
        if (!grainId.TryGetGuidKey(out var id, out _))
            throw new InvalidOperationException($"grain state '{stateName}' of {grainId.Type} has no Guid key: sealed storage cannot pick its data key");
        return stateName switch
        {
            "plan" => DataSubject.Plan(id),
            "account" => DataSubject.Account(id),
            "org" => DataSubject.Org(id),
            _ => throw new InvalidOperationException($"grain state '{stateName}' has no data-key subject: add it to SealedGrainStorage"),
        };
    }
}

/// <summary>What the inner storage holds for a sealed grain state: ciphertext only.</summary>
[GenerateSerializer]
public sealed class SealedState
{
    [Id(0)] public byte[]? Blob { get; set; }
}
