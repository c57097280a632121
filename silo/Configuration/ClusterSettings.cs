using System.Net;

namespace Plandex.Silo.Configuration;

/// <summary>Section "Cluster": who this silo is and where it listens.</summary>
internal sealed class ClusterSettings
{
    public const string Section = "Cluster";
    public string ClusterId { get; set; } = "plandex-local";
    public string ServiceId { get; set; } = "plandex";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Address other silos and clients use to reach this one. Empty: 127.0.0.1.</summary>
    public string AdvertisedAddress { get; set; } = "";
    /// <summary>Bind 0.0.0.0 instead of the advertised address (containers).</summary>
    public bool ListenOnAnyAddress { get; set; }
    public string SiloName { get; set; } = "";

    public IPAddress ParsedAdvertisedAddress =>
        string.IsNullOrWhiteSpace(AdvertisedAddress) ? IPAddress.Loopback : IPAddress.Parse(AdvertisedAddress);

    public void Validate()
    {
        Require.NotEmpty(ClusterId, "Cluster:ClusterId");
        Require.NotEmpty(ServiceId, "Cluster:ServiceId");
        Require.Port(SiloPort, "Cluster:SiloPort");
        Require.Port(GatewayPort, "Cluster:GatewayPort");
        if (!string.IsNullOrWhiteSpace(AdvertisedAddress) && !IPAddress.TryParse(AdvertisedAddress, out _))
            throw new SettingsError("Cluster:AdvertisedAddress", $"'{AdvertisedAddress}' is not an IP address");
    }
}
