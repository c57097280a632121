using Orleans.Placement;

namespace Plandex.Grains.Streams;

/// <summary>
/// Where a stream session is activated: on its plan's silo (<see cref="Providers.ProvidersOptions.SessionsNextToPlans"/>,
/// the default), so its batches go to the plan's inbox without a message, or on any silo at random.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed class SessionPlacementStrategy : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class SessionPlacementAttribute() : PlacementAttribute(new SessionPlacementStrategy());
