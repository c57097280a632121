namespace Plandex.Silo.Configuration;

/// <summary>Section "Membership": how fast a dead silo is evicted (defaults: about 2 s on a LAN).</summary>
internal sealed class MembershipSettings
{
    public const string Section = "Membership";
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
    public int NumMissedProbesLimit { get; set; } = 2;
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(5);
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public void Validate()
    {
        if (ProbeTimeout <= TimeSpan.Zero || ProbeTimeout > TimeSpan.FromMinutes(1))
            throw new SettingsError("Membership:ProbeTimeout", "must be between 00:00:00.1 and 00:01:00");
        if (NumMissedProbesLimit is < 1 or > 10)
            throw new SettingsError("Membership:NumMissedProbesLimit", "must be between 1 and 10");
    }
}
