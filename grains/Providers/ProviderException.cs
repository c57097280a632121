namespace Plandex.Grains.Providers;

/// <summary>A provider failure described without anything the provider sent (its body may echo the key).</summary>
public sealed class ProviderException(string message) : Exception(message);
