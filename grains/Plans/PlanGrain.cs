using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Providers;
using Plandex.Grains.Security;
using Plandex.Grains.Validation;

namespace Plandex.Grains.Plans;

/// <summary>
/// A plan: settings, conversation, status and its one stream. Every event added to the in-memory
/// <see cref="StreamLog"/> is pushed to the subscribed clients (<see cref="StreamWatchers"/>); the log can also be
/// read through an IAsyncEnumerable call (Orleans interleaves its enumeration calls, so the session's appends are
/// never blocked by a waiting watcher). The reply is written to the conversation once, when the stream ends.
/// </summary>
internal sealed partial class PlanGrain(
    [PersistentState("plan")] IPersistentState<PlanState> state,
    PlanStore store,
    Streams.LocalPlanInboxes inboxes,
    Streams.ReadySessions readySessions,
    Retention.DeletionStore deletions,
    IOptions<PlanOptions> options,
    TimeProvider time,
    ILogger<PlanGrain> log) : Grain, IPlanGrain
{
    // Volatile state: not persisted; gone on deactivation.
    private StreamLog? _log;                       // events of the current or last stream
    private Streams.PlanInbox? _inbox;             // where the running stream's session posts, when on this silo
    private readonly StreamWatchers _watchers = new(time, options.Value.WatchLease, options.Value.MaxWatchers); // pushed-to clients
    private Reservation? _reserved;                  // a BeginTell whose Tell has not arrived yet
    private Guid? _starting;                         // the stream a running Tell is starting
    private IGrainTimer? _sessionCheck;
    private int _sessionMisses;
    private bool _appendedSinceCheck;              // the session proved itself alive since the last session check
    // A stream's end whose writes the database refused: the session check tries it again each interval, and
    // watchers get the end once it is stored.
    private (StreamEventKind Outcome, string? Error, int PromptTokens, int ReplyTokens)? _pendingEnd;
    // The start-of-stream writes (user message, plan state) run while the first tokens flow; every later write or
    // read of the plan's rows awaits this first (through StartWritten). Never faults: a failure is recorded in
    // _startFailure and ends the stream with an error.
    private Task _startWrite = Task.CompletedTask;
    // Lets the start-of-stream writes begin: set once the first chunk went to the watchers, or by whatever needs the
    // rows; RecordStartAsync waits for it at most PlanOptions.StartWriteDelay.
    private TaskCompletionSource? _startWriteGo;
    private string? _startFailure;
    // Completed and replaced whenever _log is replaced or a Tell ends: WatchStream waits on it for its stream to start.
    private TaskCompletionSource _streamChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Guid Id => this.GetPrimaryKey();

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken ct)
    {
        _inbox?.Close(); // a session still posting hears the plan is gone, as an Append would
        await StartWritten(); // a stream's start is recorded, not dropped with the activation
    }

    public override async Task OnActivateAsync(CancellationToken ct)
    {
        LogActivated(log, Id);
        if (state.RecordExists && state.State.Status == PlanStatus.Streaming && state.State.ActiveStreamId is { } streamId)
        {
            // The activation that ran this stream is gone (its silo died): the stream cannot continue.
            SetLog(NewLog(streamId));
            await EndStreamAsync(StreamEventKind.Error, "the stream was interrupted: the server running it stopped", 0, 0);
            _ = GrainFactory.GetGrain<IStreamSessionGrain>(streamId).Stop();
        }
    }

    public async Task<PlanInfo> Describe()
    {
        await RequireMemberAsync();
        return Info();
    }

    public async Task SetModel(ModelSettings model)
    {
        await RequireMemberAsync();
        ArgumentNullException.ThrowIfNull(model);
        var provider = Input.Name(model.Provider, "provider", 40).ToLowerInvariant();
        if (!IProviderWire.Known.Contains(provider))
            throw new InvalidRequestException($"unknown provider '{provider}' (known: {string.Join(", ", IProviderWire.Known.Order())})");
        var name = Input.Name(model.Model, "model", 200);
        if (name.Any(c => !(char.IsAsciiLetterOrDigit(c) || "._:/@+-=".Contains(c))))
            throw new InvalidRequestException("model may contain only letters, digits and . _ : / @ + - =");
        string? baseUrl = null;
        if (!string.IsNullOrWhiteSpace(model.BaseUrl))
        {
            if (!Uri.TryCreate(model.BaseUrl.Trim(), UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https") || model.BaseUrl.Length > 500)
                throw new InvalidRequestException("base URL must be an absolute http(s) URL");
            baseUrl = u.ToString().TrimEnd('/');
        }
        await StartWritten();
        // A write the database refused leaves the model as stored: the next tell must not use one the user was told failed.
        var stored = state.State.Model;
        state.State.Model = new ModelSettings(provider, name, baseUrl);
        try { await state.WriteStateAsync(); }
        catch
        {
            state.State.Model = stored;
            throw;
        }
    }

    public async Task<IReadOnlyList<ConvoMessage>> Conversation()
    {
        await RequireMemberAsync();
        await StartWritten();
        return await store.Messages(Id, state.State.MessageCount);
    }

    public async Task<StreamTicket> BeginTell()
    {
        var caller = await RequireMemberAsync();
        RefuseIfStreaming();
        var (streamId, publicKey) = readySessions.TryTake(GrainFactory) ?? await OpenSessionAsync();
        // The request's history (context, conversation) is read once this turn has answered (a work item queued
        // behind it): starting the two reads (~0.15 ms) is then not on the way to the client, and they are done by
        // the time the client has sealed its key and told.
        var history = Task.Factory.StartNew(LoadHistoryAsync, CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Current).Unwrap();
        _ = history.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        _reserved = new Reservation(streamId, caller, history, time.GetTimestamp());
        return new StreamTicket(streamId, publicKey, state.State.Model);
    }

    /// <summary>A session opened for this plan's tell (none was ready on this silo).</summary>
    private async Task<(Guid StreamId, byte[] PublicKey)> OpenSessionAsync()
    {
        // A fresh session per attempt: placement may still pick a silo that just died (not yet declared dead).
        for (var attempt = 1; ; attempt++)
        {
            var streamId = Guid.NewGuid();
            try
            {
                return (streamId, await GrainFactory.GetGrain<IStreamSessionGrain>(streamId).Open(Id).WaitAsync(TimeSpan.FromSeconds(5)));
            }
            catch (Exception e) when (attempt < 4 && e is OrleansException or TimeoutException or SiloUnavailableException)
            {
                await Task.Delay(250 * attempt);
            }
        }
    }

    public async Task Tell(Guid streamId, string prompt, SealedKey key)
    {
        _starting = streamId;
        try { await StartStreamAsync(streamId, prompt, key); }
        finally
        {
            _starting = null;
            SignalStreamChanged(); // a WatchStream waiting for this stream learns whether it started
        }
    }

    private async Task StartStreamAsync(Guid streamId, string prompt, SealedKey key)
    {
        var caller = await RequireMemberAsync();
        RefuseIfStreaming();
        if (_reserved is not { } r || r.StreamId != streamId || r.Caller != caller
            || time.GetElapsedTime(r.ReservedAt) > ReservationLifetime)
            throw new InvalidRequestException("this stream was not reserved by you, or its reservation expired: tell again");
        ArgumentNullException.ThrowIfNull(key);
        if (string.IsNullOrWhiteSpace(prompt)) throw new InvalidRequestException("prompt is empty");
        if (prompt.Length > options.Value.MaxPromptChars)
            throw new InvalidRequestException($"prompt is too long ({prompt.Length} characters; the limit is {options.Value.MaxPromptChars})");
        _reserved = null;

        var now = time.GetUtcNow();
        var userMessage = new ConvoMessage(state.State.MessageCount + 1, "user", prompt, now, EstimateTokens(prompt));
        // The history read at BeginTell is used when the tell follows at once (the CLI's case); a reservation held
        // longer reads it again, so context loaded in between is not missed.
        var history = time.GetElapsedTime(r.ReservedAt) < HistoryReuse && !r.History.IsFaulted ? r.History : LoadHistoryAsync();
        var request = BuildRequest(streamId, await history, userMessage);
        var session = GrainFactory.GetGrain<IStreamSessionGrain>(streamId);
        // Offered only while Start runs: a session activated on this silo takes it; one elsewhere sends Appends.
        var inbox = new Streams.PlanInbox(GrainContext, streamId, AddChunk);
        inboxes.Offer(inbox);
        var started = false;
        try
        {
            await session.Start(request, key);
            started = true;
        }
        catch (InvalidRequestException e)
        {
            state.State.Status = PlanStatus.Error;
            state.State.LastError = e.Message;
            await state.WriteStateAsync();
            throw;
        }
        finally
        {
            inboxes.Withdraw(inbox);
            if (!started) inbox.Close(); // Start failed here: should the session run anyway, its posts are refused
        }

        state.State.MessageCount = (int)userMessage.Seq;
        state.State.Status = PlanStatus.Streaming;
        state.State.ActiveStreamId = streamId;
        state.State.LastError = null;
        state.State.StreamStartedBy = caller;
        state.State.StreamStartedAt = now;
        SetLog(NewLog(streamId));
        _log!.Add(StreamEventKind.Started);
        CloseInbox();
        _inbox = inbox;
        inbox.Open(); // batches the session posted while this Tell ran land now, after Started
        _sessionMisses = 0;
        _pendingEnd = null;
        ArmSessionCheck();
        // Not awaited: the first tokens need not wait for the database (it cost 1–6 ms of every time to first token).
        _startFailure = null;
        _startWriteGo = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _startWrite = RecordStartAsync(session, userMessage, _startWriteGo.Task);
    }

    /// <summary>Writes the user message and the plan state of a stream that is already running; on failure stops it.</summary>
    private async Task RecordStartAsync(IStreamSessionGrain session, ConvoMessage userMessage, Task go)
    {
        // A provider that answers at once would otherwise find its first tokens waiting for a core behind these two
        // writes (serialising, sealing, PostgreSQL's own work): 0.4–0.9 ms of a 1.4–4 ms time to first token against
        // a stub that answers in 0.3 ms (PERF-NOTES, ninth session). A real model takes longer than the bound anyway.
        if (!go.IsCompleted) await Task.WhenAny(go, Task.Delay(options.Value.StartWriteDelay)); // real time: a latency bound, not business time
        try
        {
            // Two tables, independent rows: written concurrently.
            await Task.WhenAll(store.AppendMessage(Id, userMessage), state.WriteStateAsync());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The stream ends with an error (at its Complete, or the session check's); its reply is not stored.
            _startFailure = "the stream could not be recorded, so it was stopped: tell again";
            state.State.MessageCount = (int)userMessage.Seq - 1;
            LogStartWriteFailed(log, Id, e.GetType().Name);
            try { await session.Stop(); }
            catch (Exception stop) when (stop is not OutOfMemoryException) { /* its session check ends it */ }
        }
    }

    public async Task Stop()
    {
        await RequireMemberAsync();
        if (state.State.Status != PlanStatus.Streaming || state.State.ActiveStreamId is not { } streamId)
            throw new InvalidRequestException("no stream is running on this plan");
        await GrainFactory.GetGrain<IStreamSessionGrain>(streamId).Stop();
    }

    public async IAsyncEnumerable<StreamEvent> Watch(long afterSeq, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await RequireMemberAsync();
        if (_log is not { } log) yield break; // no stream since this plan was loaded: nothing to watch
        await foreach (var e in Follow(log, afterSeq, cancellationToken)) yield return e;
    }

    public async IAsyncEnumerable<StreamEvent> WatchStream(Guid streamId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await RequireMemberAsync();
        // Called while the Tell that starts this stream is in flight: wait for it, as long as it is still reserved.
        while (_log?.StreamId != streamId)
        {
            // Still reserved or being started by its Tell: wait. Otherwise it did not start (its Tell failed).
            if (_reserved?.StreamId != streamId && _starting != streamId) yield break;
            var heartbeat = false;
            try { await _streamChanged.Task.WaitAsync(options.Value.Heartbeat, cancellationToken); }
            catch (TimeoutException) { heartbeat = true; }
            if (heartbeat) yield return new StreamEvent(streamId, 0, StreamEventKind.Heartbeat);
        }
        await foreach (var e in Follow(_log, 0, cancellationToken)) yield return e;
    }

    public async Task<WatchLease> Subscribe(IStreamObserver observer, Guid streamId, long afterSeq)
    {
        var caller = await RequireMemberAsync();
        ArgumentNullException.ThrowIfNull(observer);
        if (streamId == Guid.Empty) streamId = _log?.StreamId ?? Guid.Empty;
        var status = WatchStatusOf(streamId);
        if (status == WatchStatus.NoStream) return new WatchLease(status, streamId, 0, _watchers.Lease);
        var log = status == WatchStatus.Watching ? _log : null;
        if (log is null || afterSeq < 0 || afterSeq > log.LastSeq) afterSeq = 0;
        _watchers.Add(observer, caller, streamId, afterSeq);
        if (log is not null) _watchers.Publish(log); // what is already there goes at once
        return new WatchLease(status, streamId, log?.LastSeq ?? 0, _watchers.Lease);
    }

    public Task<WatchLease> Renew(IStreamObserver observer, long seenSeq)
    {
        ArgumentNullException.ThrowIfNull(observer);
        // Only the caller's own subscription, made after a membership check, can be renewed: no second check here.
        var caller = CallerContext.RequireAccount();
        var streamId = _watchers.Renew(observer, caller, seenSeq, _log);
        var status = streamId is { } id ? WatchStatusOf(id) : WatchStatus.NotSubscribed;
        if (status == WatchStatus.NoStream) _watchers.Remove(observer, caller);
        return Task.FromResult(new WatchLease(status, streamId ?? Guid.Empty, status == WatchStatus.Watching ? _log!.LastSeq : 0, _watchers.Lease));
    }

    public Task Unsubscribe(IStreamObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        _watchers.Remove(observer, CallerContext.RequireAccount());
        return Task.CompletedTask;
    }

    private WatchStatus WatchStatusOf(Guid streamId) =>
        streamId == Guid.Empty ? WatchStatus.NoStream
        : _log?.StreamId == streamId ? WatchStatus.Watching
        : _reserved?.StreamId == streamId || _starting == streamId ? WatchStatus.Pending
        : WatchStatus.NoStream;

    private async IAsyncEnumerable<StreamEvent> Follow(StreamLog log, long afterSeq, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (afterSeq < 0 || afterSeq > log.LastSeq) afterSeq = 0;
        while (true)
        {
            while (afterSeq < log.LastSeq)
            {
                var e = log[++afterSeq];
                yield return e;
                if (e.IsTerminal) yield break;
            }
            // WaitAsync drops its timer as soon as the log changes; a Task.Delay raced with WhenAny stayed queued for
            // the whole heartbeat interval, one per chunk per watcher (thousands of live timers under load).
            var heartbeat = false;
            try { await log.Changed.WaitAsync(options.Value.Heartbeat, cancellationToken); }
            catch (TimeoutException) { heartbeat = true; }
            cancellationToken.ThrowIfCancellationRequested();
            if (heartbeat) yield return new StreamEvent(log.StreamId, afterSeq, StreamEventKind.Heartbeat);
            if (_log != log) yield break; // a newer stream replaced this one
        }
    }

    public async Task<IReadOnlyList<ContextItemInfo>> LoadContext(IReadOnlyList<ContextUpload> items)
    {
        await RequireMemberAsync();
        ArgumentNullException.ThrowIfNull(items);
        if (items.Count == 0) throw new InvalidRequestException("nothing to load");
        var o = options.Value;
        var rows = new List<(string Path, byte[] Body, byte[] Sha, int Tokens)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var path = ContextPath.Check(item?.Path);
            if (!seen.Add(path)) throw new InvalidRequestException($"context path '{path}' appears twice");
            var body = System.Text.Encoding.UTF8.GetBytes(item!.Body ?? "");
            if (body.Length > o.MaxContextItemBytes)
                throw new InvalidRequestException($"context item '{path}' is {body.Length} bytes; the limit is {o.MaxContextItemBytes}");
            rows.Add((path, body, System.Security.Cryptography.SHA256.HashData(body), EstimateTokens(item.Body ?? "")));
        }
        var existing = (await store.ContextItems(Id)).Select(i => i.Path).ToHashSet(StringComparer.Ordinal);
        var total = existing.Count + rows.Count(r => !existing.Contains(r.Path));
        if (total > o.MaxContextItems)
            throw new InvalidRequestException($"a plan holds at most {o.MaxContextItems} context items; this load would make {total}");
        await store.UpsertContext(Id, rows, time.GetUtcNow());
        return await store.ContextItems(Id);
    }

    public async Task<IReadOnlyList<ContextItemInfo>> ContextItems()
    {
        await RequireMemberAsync();
        return await store.ContextItems(Id);
    }

    public async Task<int> RemoveContext(IReadOnlyList<string> paths)
    {
        await RequireMemberAsync();
        ArgumentNullException.ThrowIfNull(paths);
        var unique = paths.Select(ContextPath.Check).Distinct().ToList();
        // All or none, as `git rm` does: a mistyped path leaves the context as it was instead of half-removed.
        var missing = await store.RemoveContext(Id, unique);
        if (missing.Count > 0)
            throw new InvalidRequestException($"no context item {string.Join(", ", missing.Take(5).Select(m => $"'{m}'"))}{(missing.Count > 5 ? $" (and {missing.Count - 5} more)" : "")} in this plan; nothing was removed");
        return unique.Count;
    }

    public async Task<string> ShowContext(string path)
    {
        await RequireMemberAsync();
        return await store.ContextBody(Id, ContextPath.Check(path))
            ?? throw new InvalidRequestException($"no context item '{path}' in this plan");
    }

    public async Task<DeletionReceipt> Delete()
    {
        var caller = await RequireMemberAsync();
        var org = GrainFactory.GetGrain<IOrgGrain>(state.State.OrgId);
        var role = await org.RoleOf(caller);
        if (caller != state.State.OwnerId && role < OrgRole.Admin)
            throw new AccessDeniedException("only the plan's owner or an org owner/admin can delete it");
        return await org.DeletePlan(Id, caller) ?? throw new AccessDeniedException("no such plan, or you are not a member of its org");
    }

    public async Task<DeletionReceipt?> Erase(Guid deletedBy)
    {
        if (!state.RecordExists) return null; // already gone: erasing twice changes nothing
        var orgId = state.State.OrgId;
        var startWrite = StartWritten();
        CloseInbox();
        if (_log is { Ended: false } running)
        {
            _sessionCheck?.Dispose();
            _sessionCheck = null;
            running.Add(StreamEventKind.Deleted, "the plan was deleted");
            try { await GrainFactory.GetGrain<IStreamSessionGrain>(running.StreamId).Stop(); }
            catch (Exception e) when (e is OrleansException or TimeoutException) { /* its silo is gone: nothing to stop */ }
        }
        await startWrite; // its rows must be in place before they are deleted, not land after
        var receipt = deletions.NewReceipt("plan", Id, deletedBy);
        // Rows, context and the data key go in one transaction; the (sealed) grain state row right after. Should
        // that second step fail, what is left is ciphertext whose key is already gone, which the retention grain's
        // next tick clears (Retention.StateSweeper).
        await store.DeletePlanData(Id, receipt, orgId);
        await state.ClearStateAsync();
        // Keep nothing of the plan in memory either: watchers still reading hold the old log until they finish.
        if (_log is { } old)
        {
            SetLog(NewLog(old.StreamId));
            _log!.Add(StreamEventKind.Deleted, "the plan was deleted");
        }
        _reserved = null;
        await GrainFactory.GetGrain<IRetentionGrain>(0).ScheduleExpiryCheck(receipt.PurgeDue);
        LogDeleted(log, Id);
        return receipt;
    }

    public async Task Create(Guid orgId, Guid ownerId, string name)
    {
        if (state.RecordExists) throw new InvalidOperationException("plan exists");
        state.State = new PlanState { OrgId = orgId, OwnerId = ownerId, Name = name, CreatedAt = time.GetUtcNow() };
        await state.WriteStateAsync();
    }

    public Task Append(Guid streamId, string text)
    {
        if (!AddChunk(streamId, text)) throw new InvalidRequestException("this stream is no longer the plan's active stream");
        return Task.CompletedTask;
    }

    /// <summary>A batch from the session (an Append, or posted to the inbox); false when this stream is not running.</summary>
    private bool AddChunk(Guid streamId, string text)
    {
        if (_log is not { Ended: false } log || log.StreamId != streamId || state.State.Status != PlanStatus.Streaming) return false;
        log.Add(StreamEventKind.Chunk, text); // pushed to the watchers here
        _appendedSinceCheck = true;
        ReleaseStartWrite();
        return true;
    }

    private void ReleaseStartWrite()
    {
        _startWriteGo?.TrySetResult();
        _startWriteGo = null;
    }

    /// <summary>The start-of-stream writes, let go at once: await before any other read or write of the plan's rows.</summary>
    private Task StartWritten()
    {
        ReleaseStartWrite();
        return _startWrite;
    }

    private void CloseInbox()
    {
        _inbox?.Close();
        _inbox = null;
    }

    public async Task Complete(Guid streamId, StreamEventKind outcome, string? error, int promptTokens, int replyTokens)
    {
        if (_log is not { Ended: false } log || log.StreamId != streamId) return; // already ended (e.g. marked lost)
        await EndStreamAsync(outcome, error, promptTokens, replyTokens);
    }

    private async Task EndStreamAsync(StreamEventKind outcome, string? error, int promptTokens, int replyTokens)
    {
        var stream = _log!;
        CloseInbox(); // nothing lands after the reply is taken for storing
        _sessionCheck?.Dispose();
        _sessionCheck = null;
        await StartWritten(); // the state row written at the start must not race (or overwrite) this one
        // A failed start did not store the prompt: a reply alone would make no sense in the conversation.
        var storeReply = true;
        if (_startFailure is { } failure)
        {
            (outcome, error) = (StreamEventKind.Error, failure);
            storeReply = false;
        }
        // A write the database refuses leaves these as stored, so the next try (the session check's) numbers the
        // reply the same and replaces a row the refused attempt left, rather than storing the reply twice.
        var stored = (state.State.MessageCount, state.State.Status, state.State.LastError);
        var replyWrite = Task.CompletedTask;
        if (storeReply && stream.HasReply)
        {
            var reply = stream.ReplyText();
            var message = new ConvoMessage(state.State.MessageCount + 1, "assistant", reply, time.GetUtcNow(),
                replyTokens > 0 ? replyTokens : EstimateTokens(reply));
            replyWrite = store.AppendMessage(Id, message);
            state.State.MessageCount = (int)message.Seq;
        }
        state.State.Status = outcome switch
        {
            StreamEventKind.Finished => PlanStatus.Finished,
            StreamEventKind.Stopped => PlanStatus.Stopped,
            _ => PlanStatus.Error,
        };
        state.State.LastError = outcome == StreamEventKind.Error ? error : null;
        // The reply row and the plan's state are independent: one round trip before watchers hear the end, not two.
        try { await Task.WhenAll(replyWrite, state.WriteStateAsync()); }
        catch
        {
            (state.State.MessageCount, state.State.Status, state.State.LastError) = stored;
            _pendingEnd = (outcome, error, promptTokens, replyTokens);
            ArmSessionCheck();
            throw;
        }
        stream.Add(outcome, outcome == StreamEventKind.Error ? error : null);
        LogStreamEnded(log, Id, outcome);
        // The session this stream used is gone; one opens in its place for the silo's next tell. Here, once the end
        // is out: topping up right after BeginTell, or at the first token, put the activation on the way of the
        // tell's own first token (PERF-NOTES, fifteenth session).
        readySessions.Refill(GrainFactory);
        // Let watchers that are a moment behind still read the end from memory.
        DelayDeactivation(TimeSpan.FromSeconds(30));
    }

    /// <summary>Keeps the plan active while its stream runs: a session posting to the inbox sends the plan no messages.</summary>
    private void ArmSessionCheck()
    {
        _sessionCheck?.Dispose();
        _sessionCheck = this.RegisterGrainTimer(CheckSessionAsync, new GrainTimerCreationOptions(options.Value.SessionCheck, options.Value.SessionCheck) { KeepAlive = true });
    }

    private async Task CheckSessionAsync(CancellationToken ct)
    {
        if (_log is not { Ended: false } log) return;
        if (_pendingEnd is { } end)
        {
            _pendingEnd = null;
            // Refused again: the failure is logged where the write failed, and the end is pending again.
            try { await EndStreamAsync(end.Outcome, end.Error, end.PromptTokens, end.ReplyTokens); }
            catch (Exception e) when (e is not OutOfMemoryException) { }
            return;
        }
        // A session that appended since the last check is alive: no probe (a thousand streams would otherwise cost
        // a thousand probes a second). Only a session that has gone quiet is asked.
        if (_appendedSinceCheck)
        {
            _appendedSinceCheck = false;
            _sessionMisses = 0;
            return;
        }
        bool running;
        try { running = await GrainFactory.GetGrain<IStreamSessionGrain>(log.StreamId).IsRunning().WaitAsync(TimeSpan.FromSeconds(2), ct); }
        catch (Exception e) when (e is not OutOfMemoryException) { running = false; }
        // Two misses in a row: a session that ended normally reports Complete well within one interval.
        _sessionMisses = running ? 0 : _sessionMisses + 1;
        if (_sessionMisses >= 2 && _log == log && !log.Ended)
            await EndStreamAsync(StreamEventKind.Error, "the stream was interrupted: the server running it stopped", 0, 0);
    }

    private StreamLog NewLog(Guid streamId) => new(streamId, _watchers.Publish);

    private void SetLog(StreamLog log)
    {
        _log = log;
        SignalStreamChanged();
    }

    private void SignalStreamChanged()
    {
        var changed = _streamChanged;
        _streamChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }

    private static readonly TimeSpan HistoryReuse = TimeSpan.FromSeconds(2);
    // A reservation is honoured while its session surely still holds its key pair (it drops an unused one after
    // StreamSessionGrain.UnusedKeyPairLifetime): a prepared tell past it gets the plan's clear refusal.
    private static readonly TimeSpan ReservationLifetime = Streams.StreamSessionGrain.UnusedKeyPairLifetime - TimeSpan.FromSeconds(10);

    private sealed record Reservation(Guid StreamId, Guid Caller, Task<History> History, long ReservedAt);

    private sealed record History(IReadOnlyList<(string Path, string Body)> Context, IReadOnlyList<ConvoMessage> Messages);

    private async Task<History> LoadHistoryAsync()
    {
        // Separate pooled connections: both reads run at once.
        var context = store.ContextBodies(Id);
        var messages = store.Messages(Id, state.State.MessageCount);
        return new History(await context, await messages);
    }

    private ProviderRequest BuildRequest(Guid streamId, History history, ConvoMessage prompt)
    {
        var messages = new List<ProviderMessage>();
        if (history.Context.Count > 0)
        {
            var sb = new System.Text.StringBuilder("The user's project files loaded as context:\n");
            foreach (var (path, body) in history.Context) sb.Append("\n--- ").Append(path).Append(" ---\n").Append(body).Append('\n');
            messages.Add(new ProviderMessage("system", sb.ToString()));
        }
        foreach (var m in history.Messages) messages.Add(new ProviderMessage(m.Role, m.Content));
        messages.Add(new ProviderMessage("user", prompt.Content));
        return new ProviderRequest(Id, streamId, state.State.Model.Provider, state.State.Model.Model, messages);
    }

    private void RefuseIfStreaming()
    {
        if (state.State.Status == PlanStatus.Streaming)
            throw new InvalidRequestException("a stream is already running on this plan: `plandex connect` to watch it or `plandex stop` it");
    }

    private PlanInfo Info() => new(Id, state.State.OrgId, state.State.OwnerId, state.State.Name, state.State.Status,
        state.State.Model, state.State.ActiveStreamId, state.State.LastError, state.State.MessageCount,
        state.State.StreamStartedBy, state.State.StreamStartedAt);

    /// <summary>The caller must be a member of the plan's org. Unknown plans look the same as forbidden ones.</summary>
    private async Task<Guid> RequireMemberAsync()
    {
        var caller = CallerContext.RequireAccount();
        if (!state.RecordExists || await Cluster.SiloLossRetry.ReadAsync(() => GrainFactory.GetGrain<IOrgGrain>(state.State.OrgId).RoleOf(caller)) is null)
            throw new AccessDeniedException("no such plan, or you are not a member of its org");
        return caller;
    }

    private static int EstimateTokens(string text) => (text.Length + 3) / 4;

    [LoggerMessage(Level = LogLevel.Information, Message = "plan {PlanId} deleted")]
    private static partial void LogDeleted(ILogger logger, Guid planId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "plan {PlanId}: the start of its stream could not be written ({ExceptionType}); stream stopped")]
    private static partial void LogStartWriteFailed(ILogger logger, Guid planId, string exceptionType);

    [LoggerMessage(Level = LogLevel.Debug, Message = "plan {PlanId} activated on this silo")]
    private static partial void LogActivated(ILogger logger, Guid planId);

    [LoggerMessage(Level = LogLevel.Information, Message = "plan {PlanId} stream ended: {Outcome}")]
    private static partial void LogStreamEnded(ILogger logger, Guid planId, StreamEventKind outcome);

}
