using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>
/// A provider request's body, held only until the provider has answered. The body carries the prompt, the
/// conversation and the plan's context (up to megabytes), and a stream runs for minutes: the read loop's state would
/// otherwise keep it, and the request it was made from, for the stream's whole length. The one later use it could
/// have, a retry on a pooled connection the provider closed, happens only before anything came back.
/// </summary>
public sealed class RequestBody
{
    private byte[]? _bytes;

    private RequestBody(byte[] bytes) => _bytes = bytes;

    /// <summary>The body of <paramref name="request"/> in <paramref name="wire"/>'s format.</summary>
    public static RequestBody For(IProviderWire wire, ProviderRequest request) => new(wire.Body(request));

    public byte[] Bytes => _bytes ?? throw new InvalidOperationException("the request body was released: the provider already answered");

    /// <summary>True once the provider has answered and the body is no longer held.</summary>
    public bool Released => _bytes is null;

    internal void Release() => _bytes = null;
}
