using Orleans.Concurrency;

namespace Plandex.GrainInterfaces;

/// <summary>
/// A client's receiver for pushed stream events (an Orleans observer; see <see cref="IPlanGrain.Subscribe"/>).
/// One-way: the plan does not wait for the client. Events carry their sequence numbers; the client orders them,
/// drops repeats, and asks for a replay when one is missing (<see cref="IPlanGrain.Renew"/>).
/// </summary>
public interface IStreamObserver : IGrainObserver
{
    [OneWay] Task OnEvents(StreamEvent[] events);
}
