namespace Plandex.GrainInterfaces;

/// <summary>
/// One stream (fresh key per stream, not persistent): holds the unsealed provider key in a pinned buffer while
/// the provider call runs, wipes it when the stream ends for any reason, then deactivates. Internal only.
/// </summary>
public interface IStreamSessionGrain : IGrainWithGuidKey
{
    /// <summary>
    /// Creates the session's one-time key pair; returns its public half. <see cref="Guid.Empty"/>: a session kept
    /// ready for the silo's next tell, bound to the plan whose <see cref="Start"/> reaches it first.
    /// </summary>
    Task<byte[]> Open(Guid planId);
    Task Start(ProviderRequest request, SealedKey key);
    Task Stop();
    /// <summary>False once the stream ended, or when this activation never started one (its silo died).</summary>
    Task<bool> IsRunning();
}
