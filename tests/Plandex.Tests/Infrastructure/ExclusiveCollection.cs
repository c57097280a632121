namespace Plandex.Tests.Infrastructure;

/// <summary>
/// Tests that measure time or kill processes (failover, silo loss, memory dumps) run alone, after the parallel
/// ones: on 2 cores a neighbour's 500 MB memory dump would otherwise stall their silos and skew what they measure.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ExclusiveCollection
{
    public const string Name = "exclusive: timing-sensitive";
}
