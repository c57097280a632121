using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;

namespace Plandex.Grains.Providers;

/// <summary>A checked provider endpoint: the base URL and the one address it was checked at (no re-resolve).</summary>
public sealed record ResolvedEndpoint(Uri BaseUrl, IPAddress Address);

/// <summary>
/// Decides whether a key may be sent to an endpoint: it must be on the operator's allowlist (or loopback when
/// explicitly allowed), and the address it resolves to must not be a door into the server's own network
/// (link-local, cloud metadata, private ranges unless allowed, this cluster's own ports). The connection is then
/// made to exactly the checked address, so DNS cannot change the answer in between.
/// </summary>
public sealed class EndpointPolicy(IOptions<ProvidersOptions> options, ProviderHosts hosts)
{
    private static readonly IPAddress[] Metadata = [IPAddress.Parse("169.254.169.254"), IPAddress.Parse("fd00:ec2::254"), IPAddress.Parse("100.100.100.200")];

    public async Task<ResolvedEndpoint> ResolveAsync(string endpoint, CancellationToken ct)
    {
        var o = options.Value;
        if (!Uri.TryCreate(endpoint.TrimEnd('/'), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
            || uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            throw new InvalidRequestException("provider endpoint must be an http(s) base URL without credentials or query");
        var loopbackName = uri.IsLoopback;
        var listed = o.AllowedEndpointList.Any(a => Matches(a, uri));
        if (!listed && !(o.AllowLoopback && loopbackName))
            throw new InvalidRequestException($"provider endpoint {uri.GetLeftPart(UriPartial.Authority)} is not on this server's allowlist (Providers:AllowedEndpoints)");

        IPAddress address;
        if (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var literal)) address = literal;
        else
        {
            IPAddress[] all;
            try { all = await hosts.ResolveAsync(uri.DnsSafeHost, ct); }
            catch (SocketException) { throw new InvalidRequestException($"provider host {uri.Host} does not resolve"); }
            address = all.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? all.FirstOrDefault()
                ?? throw new InvalidRequestException($"provider host {uri.Host} does not resolve");
        }
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        Check(address, uri, o);
        return new ResolvedEndpoint(uri, address);
    }

    /// <summary>The endpoint's address could not be reached: the next stream to its host resolves the name again.</summary>
    public void Unreachable(ResolvedEndpoint endpoint) => hosts.Forget(endpoint.BaseUrl.DnsSafeHost); // a literal was never cached

    private static void Check(IPAddress a, Uri uri, ProvidersOptions o)
    {
        var b = a.GetAddressBytes();
        if (Metadata.Any(m => m.Equals(a))) Refuse(uri, "a cloud metadata address");
        if (a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any)) Refuse(uri, "an unspecified address");
        if (IPAddress.IsLoopback(a))
        {
            if (!o.AllowLoopback) Refuse(uri, "a loopback address");
            if (o.OwnPorts.Contains(uri.Port)) Refuse(uri, "this cluster's own port");
            return;
        }
        var linkLocal = a.AddressFamily == AddressFamily.InterNetwork ? b[0] == 169 && b[1] == 254 : a.IsIPv6LinkLocal;
        if (linkLocal) Refuse(uri, "a link-local address");
        var priv = a.AddressFamily == AddressFamily.InterNetwork
            ? b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) || (b[0] == 100 && (b[1] & 0xC0) == 64)
            : (b[0] & 0xFE) == 0xFC || a.IsIPv6SiteLocal;
        if (priv && !o.AllowPrivateNetworks) Refuse(uri, "a private network address");
        if (priv && o.OwnPorts.Contains(uri.Port)) Refuse(uri, "this cluster's own port");
    }

    private static bool Matches(string allowed, Uri uri) =>
        Uri.TryCreate(allowed.TrimEnd('/'), UriKind.Absolute, out var a)
        && a.Scheme == uri.Scheme && string.Equals(a.Host, uri.Host, StringComparison.OrdinalIgnoreCase) && a.Port == uri.Port
        && (uri.AbsolutePath.TrimEnd('/') + "/").StartsWith(a.AbsolutePath.TrimEnd('/') + "/", StringComparison.Ordinal);

    private static void Refuse(Uri uri, string why) =>
        throw new InvalidRequestException($"provider endpoint {uri.GetLeftPart(UriPartial.Authority)} is refused: it resolves to {why}");
}
