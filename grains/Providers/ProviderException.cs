namespace Plandex.Grains.Providers;

/// <summary>A provider failure described without anything the provider sent (its body may echo the key).</summary>
public sealed class ProviderException(string message, bool unreachable = false) : Exception(message)
{
    /// <summary>No connection could be made to the provider's address (refused, unreachable or timed out).</summary>
    public bool Unreachable { get; } = unreachable;
}
