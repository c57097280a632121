using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;
using Plandex.Grains.Providers;

namespace Plandex.Grains.Streams;

/// <summary>
/// Places a session on the silo that asks for it (its plan calls <c>Open</c>) when sessions go next to plans and
/// that silo can host it; otherwise on a compatible silo at random.
/// </summary>
internal sealed class SessionPlacementDirector(IOptions<ProvidersOptions> options) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (options.Value.SessionsNextToPlans && context.LocalSiloStatus == SiloStatus.Active && silos.Contains(context.LocalSilo))
            return Task.FromResult(context.LocalSilo);
        return Task.FromResult(silos[Random.Shared.Next(silos.Length)]);
    }
}
