using System.Net;

namespace Plandex.Client.Connection;

/// <summary>
/// A list of gateway endpoints ("host:port[,host:port...]") a client may connect through, with each host as written
/// (the name a gateway's TLS certificate must carry; the address itself when none is given).
/// </summary>
public sealed record ServerAddress(IReadOnlyList<IPEndPoint> Gateways, IReadOnlyList<string>? Hosts = null)
{
    public const string EnvironmentVariable = "PLANDEX_SERVER";
    public const string Default = "127.0.0.1:30000";

    public static ServerAddress Resolve(string? option) =>
        Parse(option ?? Environment.GetEnvironmentVariable(EnvironmentVariable) ?? Default);

    public static ServerAddress Parse(string text)
    {
        var list = new List<IPEndPoint>();
        var hosts = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part[(colon + 1)..], out var port) || port is < 1 or > 65535)
                throw new ArgumentException($"server '{part}' is not host:port");
            var host = part[..colon].Trim('[', ']');
            var address = IPAddress.TryParse(host, out var ip) ? ip : Lookup(host);
            list.Add(new IPEndPoint(address, port));
            hosts.Add(host);
        }
        if (list.Count == 0) throw new ArgumentException("server address is empty");
        return new ServerAddress(list, hosts);
    }

    // An unknown name makes Dns throw (it does not answer empty): either way, one error naming the host.
    private static IPAddress Lookup(string host)
    {
        try { return Dns.GetHostAddresses(host).FirstOrDefault() ?? throw new ArgumentException($"server host '{host}' does not resolve"); }
        catch (System.Net.Sockets.SocketException e) { throw new ArgumentException($"server host '{host}' does not resolve ({e.Message})"); }
    }

    /// <summary>The host as written for the gateway at <paramref name="endpoint"/>; its address when unknown.</summary>
    public string HostOf(EndPoint? endpoint)
    {
        var i = endpoint is IPEndPoint ip ? Gateways.ToList().FindIndex(g => g.Equals(ip) || (g.Port == ip.Port && g.Address.MapToIPv6().Equals(ip.Address.MapToIPv6()))) : -1;
        if (i >= 0) return Hosts is { } h && i < h.Count ? h[i] : Gateways[i].Address.ToString();
        return (endpoint as IPEndPoint)?.Address.ToString() ?? Hosts?.FirstOrDefault() ?? Gateways[0].Address.ToString();
    }

    public override string ToString() => string.Join(",", Gateways.Select(g => g.ToString()));
}
