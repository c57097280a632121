using Plandex.GrainInterfaces;

namespace Plandex.Silo.Hosting;

/// <summary>At every silo start, make sure the retention grain's durable epoch reminder exists (idempotent).</summary>
internal static class RetentionScheduleStartup
{
    public static Task RunAsync(IServiceProvider services, CancellationToken ct) =>
        services.GetRequiredService<IGrainFactory>().GetGrain<IRetentionGrain>(0).EnsureScheduled();
}
