namespace Plandex.Grains.Cluster;

/// <summary>
/// Calls into a grain whose silo just died fail until membership declares that silo dead (about 2 s); then the
/// grain re-activates elsewhere. Read-only calls on a user's path retry through that window instead of failing.
/// </summary>
internal static class SiloLossRetry
{
    public static async Task<T> ReadAsync<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try { return await call(); }
            catch (Exception e) when (attempt < 6 && e is OrleansMessageRejectionException or SiloUnavailableException)
            {
                await Task.Delay(200 * attempt);
            }
        }
    }
}
