namespace Plandex.GrainInterfaces;

/// <summary>
/// The cluster's one retention grain (key 0). Internal only: driven by durable reminders (epoch rotation and
/// backup-expiry checks), never by clients.
/// </summary>
public interface IRetentionGrain : IGrainWithIntegerKey
{
    /// <summary>How many epoch ticks this cluster has processed (idempotent ticks count once).</summary>
    Task<long> EpochTicks();

    /// <summary>
    /// Makes sure a durable reminder checks, at <paramref name="purgeDue"/>, that a deletion's keys are gone and
    /// marks its receipt purged (reminders are shared per hour of purge-due time).
    /// </summary>
    Task ScheduleExpiryCheck(DateTimeOffset purgeDue);

    /// <summary>Registers the epoch reminder if it is missing (idempotent; called at every silo start).</summary>
    [SiloHostCallable]
    Task EnsureScheduled();
}
