using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;
using Plandex.Grains.Providers;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Streams;

/// <summary>
/// One stream: unseals the user's key, calls the provider, hands chunks to the plan, and when the stream ends for
/// any reason wipes the key and deactivates. Not persistent; nothing about it outlives the activation.
/// The provider is read in this grain's context, one batch per read, reads paced over
/// <see cref="ProvidersOptions.BatchWindow"/> (the first text goes at once); batches go from there to the plan in
/// order (<see cref="PlanRelay"/>): posted to its <see cref="PlanInbox"/> when the plan is on this silo, otherwise
/// one Append in flight at a time.
/// </summary>
// Next to its plan by default (Providers:SessionsNextToPlans): the batches then skip a message.
[SessionPlacement]
internal sealed partial class StreamSessionGrain(
    EndpointPolicy endpoints,
    ProviderConnectionPool connections,
    LocalPlanInboxes inboxes,
    IOptions<ProvidersOptions> options,
    IOptions<ScanControlOptions> scanControl,
    ILogger<StreamSessionGrain> log) : Grain, IStreamSessionGrain
{
    /// <summary>An opened session whose stream never starts drops its key pair and deactivates after this long.</summary>
    internal static readonly TimeSpan UnusedKeyPairLifetime = TimeSpan.FromMinutes(2);

    // Volatile state: not persisted; gone on deactivation.
    private SessionKeyPair? _keyPair;   // one-time key pair; private half destroyed once used
    private UnsealedKey? _key;          // the provider key, pinned; wiped when the stream ends
    private CancellationTokenSource? _cancel;
    private Guid _planId;                // Guid.Empty while kept ready (ReadySessions), until its first Start
    private bool _counted;               // counted in PlandexMetrics.ActiveSessions (opened for a plan)
    private bool _spare;                 // counted as ready, not yet taken
    private bool _running;
    private bool _stopRequested;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken ct)
    {
        Wipe();
        _cancel?.Cancel();
        if (_counted) PlandexMetrics.SessionDeactivated();
        if (_spare) PlandexMetrics.ReadySessionGone();
        _counted = _spare = false;
        return Task.CompletedTask;
    }

    public Task<byte[]> Open(Guid planId)
    {
        if (_keyPair is not null || _running || _counted || _spare) throw new InvalidOperationException("session already opened");
        _planId = planId;
        _keyPair = new SessionKeyPair();
        // Ops and tests watch the active count fall to zero once streams end: a session kept ready is counted apart.
        if (planId == Guid.Empty) { _spare = true; PlandexMetrics.ReadySessionOpened(); }
        else { _counted = true; PlandexMetrics.SessionActivated(); }
        // A reservation that is never used must not keep a key pair alive. A ready one may wait up to
        // ReadySessions.MaxAge before it is reserved, and then has the full lifetime.
        var lifetime = planId == Guid.Empty ? UnusedKeyPairLifetime + ReadySessions.MaxAge : UnusedKeyPairLifetime;
        this.RegisterGrainTimer(() => { if (!_running) { Wipe(); DeactivateOnIdle(); } return Task.CompletedTask; },
            new GrainTimerCreationOptions(lifetime, Timeout.InfiniteTimeSpan));
        return Task.FromResult(_keyPair.PublicKey);
    }

    public async Task Start(ProviderRequest request, SealedKey sealedKey)
    {
        if (_keyPair is null || _running || (request.PlanId != _planId && !_spare)) throw new InvalidOperationException("session is not open for this plan");
        if (_spare)
        {
            // A ready session's first Start comes from the plan that took it (a plan starts only the session it
            // reserved, and a ready one is handed out once): it is that plan's from now on.
            _planId = request.PlanId;
            _spare = false;
            PlandexMetrics.ReadySessionGone();
            _counted = true;
            PlandexMetrics.SessionActivated();
        }
        ResolvedEndpoint endpoint;
        IProviderWire wire;
        RequestBody body;
        try
        {
            _key = _keyPair.Unseal(sealedKey, this.GetPrimaryKey());
            if (scanControl.Value.KeepKeysAsStrings) lock (ScanControlOptions.Leaked) ScanControlOptions.Leaked.Add(System.Text.Encoding.UTF8.GetString(_key.Key));
            endpoint = await endpoints.ResolveAsync(_key.Endpoint, CancellationToken.None);
            // The read loop gets the request's body alone, which it drops once the provider answers (RequestBody).
            wire = IProviderWire.For(request.Provider);
            body = RequestBody.For(wire, request);
        }
        catch (CryptographicException)
        {
            Finish();
            throw new InvalidRequestException("the sealed key does not open for this stream");
        }
        catch
        {
            Finish();
            throw;
        }
        finally
        {
            _keyPair?.Dispose(); // the private half is needed exactly once
            _keyPair = null;
        }
        _running = true;
        _cancel = new CancellationTokenSource(options.Value.MaxStreamDuration);
        // No request reaches this activation while it reads: without this, Orleans would collect it as idle after
        // its collection age (15 min by default) and end a long stream. Finish's DeactivateOnIdle still ends it.
        DelayDeactivation(options.Value.MaxStreamDuration);
        PlandexMetrics.StreamsStarted.Add(1);
        LogRunning(log, this.GetPrimaryKey(), _planId);
        // A plan on this silo offered its inbox for the length of this call: batches then skip the Append message.
        var inbox = inboxes.Take(this.GetPrimaryKey());
        if (inbox is not null) inbox.MinInterval = options.Value.BatchWindow / 2;
        // Started without the Tell's execution context: its async locals would otherwise be captured by every await
        // of the read loop, and each resumption through this grain's scheduler would carry (and allocate for) them.
        using (ExecutionContext.SuppressFlow()) _ = RunAsync(endpoint, wire, body, inbox, _cancel.Token);
    }

    public Task Stop()
    {
        _stopRequested = true;
        _cancel?.Cancel();
        if (!_running) Finish();
        return Task.CompletedTask;
    }

    public Task<bool> IsRunning()
    {
        // An activation that never opened (its stream's silo died and a probe re-created it) must not linger.
        if (!_running && _keyPair is null) DeactivateOnIdle();
        return Task.FromResult(_running);
    }

    private async Task RunAsync(ResolvedEndpoint endpoint, IProviderWire wire, RequestBody body, PlanInbox? inbox, CancellationToken ct)
    {
        // The Tell that started this read left its caller's call context (account, session hash, source) flowing
        // here. Nothing from here on acts for a caller, so none of it rides along with every Append: it cost a copy
        // of the context per batch each way. Async method: the Tell's own context is restored when this yields.
        RequestContext.Clear();
        var relay = new PlanRelay(GrainFactory.GetGrain<IPlanGrain>(_planId), this.GetPrimaryKey(), inbox);
        var key = _key!;
        var o = options.Value;
        var stall = o.StallTimeout;
        TimeSpan Pace() => o.BatchWindowFor(PlandexMetrics.ActiveSessions); // asked once per window: follows the load

        var outcome = StreamEventKind.Finished;
        string? error = null;
        try
        {
            // The provider is read in this grain's context (its socket reads resume here), and each batch goes from
            // the read straight to the plan: one hop per batch, not a thread-pool reader, a channel and a grain turn.
            // Calls to the plan must come from grain context anyway: the authorization filter refuses any other.
            await ProviderCall.RunAsync(connections, key, endpoint, wire, body, relay.HandOverAsync, stall, Pace, ct);
            await relay.DrainAsync();
        }
        catch (OperationCanceledException)
        {
            outcome = _stopRequested ? StreamEventKind.Stopped : StreamEventKind.Error;
            error = _stopRequested ? null : "the stream exceeded its maximum duration";
        }
        catch (ProviderException e)
        {
            outcome = StreamEventKind.Error;
            error = e.Message;
            if (e.Unreachable) endpoints.Unreachable(endpoint); // the provider may have moved: look its name up again
        }
        catch (Exception e) when (e is InvalidRequestException or AccessDeniedException)
        {
            // The plan no longer wants this stream (deleted, or a newer stream took over).
            outcome = StreamEventKind.Stopped;
            _cancel?.Cancel();
        }
        catch (Exception e)
        {
            outcome = StreamEventKind.Error;
            error = "the stream failed inside the server";
            LogUnexpected(log, e.GetType().Name);
        }
        finally
        {
            _cancel?.Cancel();
            await relay.DrainAsync(swallow: true); // a batch still in flight lands before the end is reported
            Wipe(); // the key is gone before anyone hears the stream ended
            _running = false;
        }
        PlandexMetrics.StreamsEnded.Add(1, new KeyValuePair<string, object?>("outcome", outcome.ToString().ToLowerInvariant()));
        try { await relay.Plan.Complete(this.GetPrimaryKey(), outcome, error, relay.PromptTokens, relay.ReplyTokens); }
        catch (Exception e) when (e is not OutOfMemoryException) { LogReportFailed(log, e.GetType().Name); }
        Finish();
    }

    private void Wipe()
    {
        _key?.Dispose();
        _key = null;
        _keyPair?.Dispose();
        _keyPair = null;
    }

    private void Finish()
    {
        Wipe();
        DeactivateOnIdle();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "stream {StreamId} of plan {PlanId} running on this silo")]
    private static partial void LogRunning(ILogger logger, Guid streamId, Guid planId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "stream failed unexpectedly ({ExceptionType})")]
    private static partial void LogUnexpected(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not report the stream's end to its plan ({ExceptionType})")]
    private static partial void LogReportFailed(ILogger logger, string exceptionType);
}
