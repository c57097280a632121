namespace Plandex.GrainInterfaces;

/// <summary>
/// A plan (key: plan id): settings, conversation, context metadata, status and its one active stream.
/// Every client call checks that the caller is a member of the plan's org.
/// </summary>
public interface IPlanGrain : IGrainWithGuidKey
{
    [ClientCallable] Task<PlanInfo> Describe();
    [ClientCallable] Task SetModel(ModelSettings model);
    [ClientCallable] Task<IReadOnlyList<ConvoMessage>> Conversation();

    /// <summary>Reserves the plan's stream and a fresh session; refused while another stream runs.</summary>
    [ClientCallable] Task<StreamTicket> BeginTell();
    /// <summary>
    /// Starts the reserved stream with the user's prompt and the key sealed to its session. A continuation of the
    /// caller's BeginTell (the plan checks the reservation is theirs): it may reuse that call's session check.
    /// </summary>
    [ClientCallable(Continuation = true)] Task Tell(Guid streamId, string prompt, SealedKey key);
    [ClientCallable] Task Stop();

    /// <summary>Events of the current (or last) stream from <paramref name="afterSeq"/> on: replay, then live.</summary>
    [ClientCallable] IAsyncEnumerable<StreamEvent> Watch(long afterSeq, CancellationToken cancellationToken = default);
    /// <summary>
    /// Events of the stream <paramref name="streamId"/> from its start, called while its Tell is in flight: waits for
    /// the Tell, and ends at once if the stream did not start (the Tell itself reports why).
    /// </summary>
    [ClientCallable] IAsyncEnumerable<StreamEvent> WatchStream(Guid streamId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Pushes the events of stream <paramref name="streamId"/> (<see cref="Guid.Empty"/>: the current or last
    /// stream) after <paramref name="afterSeq"/> to <paramref name="observer"/>: the ones already there at once, then
    /// each as it happens, until the stream ends. A stream still reserved (its Tell in flight) is pushed from its start.
    /// The subscription lapses unless renewed within the returned lease. Sent right after BeginTell by a tell that
    /// watches, so it may reuse that call's session check, as a renewal does.
    /// </summary>
    [ClientCallable(Continuation = true)] Task<WatchLease> Subscribe(IStreamObserver observer, Guid streamId, long afterSeq);
    /// <summary>
    /// Extends the caller's subscription. <paramref name="seenSeq"/> is the last event the client has in order: if
    /// events pushed before the previous renewal are still missing there, they are pushed again.
    /// </summary>
    [ClientCallable(Continuation = true)] Task<WatchLease> Renew(IStreamObserver observer, long seenSeq);
    [ClientCallable(Continuation = true)] Task Unsubscribe(IStreamObserver observer);

    /// <summary>Adds or replaces context items, all or nothing (paths and limits are checked first).</summary>
    [ClientCallable] Task<IReadOnlyList<ContextItemInfo>> LoadContext(IReadOnlyList<ContextUpload> items);
    [ClientCallable] Task<IReadOnlyList<ContextItemInfo>> ContextItems();
    /// <summary>Removes context items, all or nothing: a path the plan has no item at removes none. Returns how many were removed.</summary>
    [ClientCallable] Task<int> RemoveContext(IReadOnlyList<string> paths);
    [ClientCallable] Task<string> ShowContext(string path);

    /// <summary>
    /// Deletes the plan (its owner or an org owner/admin): stops its stream (watchers get a Deleted event), removes
    /// its conversation, context and state from the live database at once, and writes a deletion receipt.
    /// Interleaved: the erasure runs through the org (<see cref="IOrgGrain.DeletePlan"/>), which may be erasing this
    /// plan for an account's deletion at the same time; this call holds no turn of the plan meanwhile.
    /// </summary>
    [ClientCallable, Orleans.Concurrency.AlwaysInterleave] Task<DeletionReceipt> Delete();

    // Internal: the org creates plans; the session reports.
    Task Create(Guid orgId, Guid ownerId, string name);
    /// <summary>Deletes the plan for an org or account deletion that already checked authority; null if already gone.</summary>
    Task<DeletionReceipt?> Erase(Guid deletedBy);
    Task Append(Guid streamId, string text);
    Task Complete(Guid streamId, StreamEventKind outcome, string? error, int promptTokens, int replyTokens);
}
