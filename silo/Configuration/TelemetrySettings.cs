namespace Plandex.Silo.Configuration;

/// <summary>Section "Telemetry". Empty OtlpEndpoint: no trace leaves the process (promise 5: no third party).</summary>
internal sealed class TelemetrySettings
{
    public const string Section = "Telemetry";
    public string OtlpEndpoint { get; set; } = "";
    /// <summary>Print exception stack traces in logs. Off by default: one line per problem.</summary>
    public bool StackTraces { get; set; }

    public void Validate()
    {
        if (OtlpEndpoint.Length > 0 && !Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out _))
            throw new SettingsError("Telemetry:OtlpEndpoint", $"'{OtlpEndpoint}' is not an absolute URL");
    }
}
