using System.Collections.Concurrent;

namespace Plandex.Grains.Streams;

/// <summary>
/// This silo's open <see cref="PlanInbox"/>es, by stream id: a plan puts its inbox here for the length of its
/// session's <c>Start</c>, and a session activated on the same silo takes it. Silo-local and in memory only.
/// </summary>
internal sealed class LocalPlanInboxes
{
    private readonly ConcurrentDictionary<Guid, PlanInbox> _inboxes = new();

    /// <summary>Tests only: offers are ignored, so a session on the plan's silo uses Append messages too.</summary>
    internal bool IgnoreOffers { get; init; }

    public void Offer(PlanInbox inbox)
    {
        if (!IgnoreOffers) _inboxes[inbox.StreamId] = inbox;
    }

    public PlanInbox? Take(Guid streamId) => _inboxes.TryRemove(streamId, out var inbox) ? inbox : null;

    public void Withdraw(PlanInbox inbox) => _inboxes.TryRemove(new KeyValuePair<Guid, PlanInbox>(inbox.StreamId, inbox));
}
