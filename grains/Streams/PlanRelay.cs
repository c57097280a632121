using System.Text;
using Plandex.GrainInterfaces;
using Plandex.Grains.Providers;

namespace Plandex.Grains.Streams;

/// <summary>
/// Hands a stream's batches from the provider reader to its plan, in order. A plan on this silo gave its
/// <see cref="PlanInbox"/>: batches are posted there, no message. Otherwise one <c>Append</c> is in flight: what
/// the reader hands over meanwhile waits here and goes as one batch as soon as the previous one landed, so the
/// reader never waits for the plan. Called from one reader at a time; the send loop runs beside it.
/// </summary>
internal sealed class PlanRelay(IPlanGrain plan, Guid streamId, PlanInbox? inbox)
{
    private readonly Lock _gate = new();
    private readonly StringBuilder _waiting = new(); // guarded by _gate
    private bool _sending;                           // guarded by _gate
    private Task _inFlight = Task.CompletedTask;

    public IPlanGrain Plan => plan;
    public int PromptTokens { get; private set; }
    public int ReplyTokens { get; private set; }

    public async ValueTask HandOverAsync(WireEvent e)
    {
        if (_inFlight.IsFaulted) await _inFlight; // the plan no longer wants this stream: the read ends
        if (e.PromptTokens is { } p) PromptTokens = p;
        if (e.ReplyTokens is { } r) ReplyTokens = r;
        if (e.Text is null) return;
        if (inbox is not null)
        {
            inbox.Post(e.Text);
            return;
        }
        lock (_gate)
        {
            if (_sending) { _waiting.Append(e.Text); return; }
            _sending = true;
        }
        _inFlight = SendAsync(e.Text);
    }

    private async Task SendAsync(string text)
    {
        try
        {
            while (true)
            {
                await plan.Append(streamId, text);
                lock (_gate)
                {
                    if (_waiting.Length == 0) { _sending = false; return; }
                    text = _waiting.ToString();
                    _waiting.Clear();
                }
            }
        }
        catch
        {
            lock (_gate) { _sending = false; _waiting.Clear(); }
            throw;
        }
    }

    /// <summary>Waits until everything handed over has reached the plan (the reader has finished).</summary>
    public async Task DrainAsync(bool swallow = false)
    {
        try
        {
            if (inbox is not null) await inbox.DrainAsync();
            else await _inFlight;
        }
        catch (Exception) when (swallow) { /* the stream is ending anyway; its outcome is already decided */ }
    }
}
