namespace Plandex.Silo.Configuration;

/// <summary>Section "Http": health, metrics and the dashboard.</summary>
internal sealed class HttpSettings
{
    public const string Section = "Http";
    public int Port { get; set; } = 8080;
    /// <summary>Address the HTTP endpoints bind to. Loopback by default: nothing is exposed unless asked.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";
    /// <summary>The dashboard has no authentication of its own: serve it to loopback callers only unless set.</summary>
    public bool DashboardAllowRemote { get; set; }
    public bool DashboardEnabled { get; set; } = true;
    /// <summary>
    /// The dashboard's per-method call profiler: an incoming filter on every grain call (each streamed batch and each
    /// watcher message pays for it), so off unless asked; the rest of the dashboard works without it.
    /// </summary>
    public bool DashboardProfiler { get; set; }

    public void Validate()
    {
        Require.Port(Port, "Http:Port");
        if (!System.Net.IPAddress.TryParse(BindAddress, out _))
            throw new SettingsError("Http:BindAddress", $"'{BindAddress}' is not an IP address");
    }
}
