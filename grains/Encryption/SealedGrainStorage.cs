using Orleans.Serialization;
using Orleans.Storage;

namespace Plandex.Grains.Encryption;

/// <summary>
/// Grain storage that encrypts every grain state with the data key of the grain's subject before it reaches the
/// inner (AdoNet) storage, so plan, account and org state never reach PostgreSQL in the clear. State is
/// serialized with Orleans' binary serializer, then sealed by <see cref="Envelope"/>; concurrency (ETags) and
/// clearing are the inner storage's.
/// </summary>
public sealed class SealedGrainStorage(IGrainStorage inner, Envelope envelope, Serializer serializer) : IGrainStorage
{
    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var stored = new GrainState<SealedState>(new SealedState());
        await inner.ReadStateAsync(stateName, grainId, stored);
        grainState.ETag = stored.ETag;
        grainState.RecordExists = stored.RecordExists;
        if (stored.RecordExists && stored.State?.Blob is { Length: > 0 } blob)
            grainState.State = serializer.Deserialize<T>(await envelope.Open(SubjectOf(stateName, grainId), "state:" + stateName, blob));
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
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
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var stored = new GrainState<SealedState> { ETag = grainState.ETag, RecordExists = grainState.RecordExists };
        await inner.ClearStateAsync(stateName, grainId, stored);
        grainState.ETag = stored.ETag;
        grainState.RecordExists = stored.RecordExists;
    }

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
