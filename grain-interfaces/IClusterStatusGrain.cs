namespace Plandex.GrainInterfaces;

/// <summary>The project's own view of cluster membership, so clients never call Orleans' management grain.</summary>
public interface IClusterStatusGrain : IGrainWithIntegerKey
{
    [ClientCallable(Anonymous = true)]
    Task<ClusterStatus> GetStatus();
}
