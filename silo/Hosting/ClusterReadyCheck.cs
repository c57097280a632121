using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Orleans.Runtime;

namespace Plandex.Silo.Hosting;

/// <summary>Ready = this silo is an Active member of the cluster and the database answers.</summary>
internal sealed class ClusterReadyCheck(IClusterMembershipService membership, ILocalSiloDetails local, NpgsqlDataSource db)
    : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress);
        if (status != SiloStatus.Active) return HealthCheckResult.Unhealthy($"silo is {status}");
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("SELECT 1", conn);
            await cmd.ExecuteScalarAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("database does not answer");
        }
        return HealthCheckResult.Healthy();
    }
}
