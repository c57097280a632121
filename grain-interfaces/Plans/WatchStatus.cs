namespace Plandex.GrainInterfaces;

[GenerateSerializer]
public enum WatchStatus
{
    /// <summary>Events of the stream are pushed to the observer until it ends or the lease runs out.</summary>
    Watching = 0,
    /// <summary>The stream is reserved and its Tell has not started it yet; its events will be pushed from the start.</summary>
    Pending = 1,
    /// <summary>Nothing to watch: no stream since the plan was loaded, or not this one (a failed or replaced stream).</summary>
    NoStream = 2,
    /// <summary>Renew only: the plan does not know this observer (its lease ran out, or the plan was reloaded).</summary>
    NotSubscribed = 3,
}
