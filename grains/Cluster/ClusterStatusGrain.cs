using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Concurrency;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Cluster;

/// <summary>
/// Answers <c>plandex status</c> from this silo's membership view, so clients never need Orleans' management grain.
/// Stateless: a fresh activation per silo is fine.
/// </summary>
[StatelessWorker]
internal sealed class ClusterStatusGrain(IClusterMembershipService membership, IOptions<ClusterOptions> cluster)
    : Grain, IClusterStatusGrain
{
    public Task<ClusterStatus> GetStatus()
    {
        var silos = membership.CurrentSnapshot.Members.Values
            .OrderBy(m => m.SiloAddress.ToString(), StringComparer.Ordinal)
            .Select(m => new SiloInfo(m.Name, m.SiloAddress.Endpoint.ToString(), m.Status.ToString()))
            .ToList();
        return Task.FromResult(new ClusterStatus(cluster.Value.ClusterId, silos));
    }
}
