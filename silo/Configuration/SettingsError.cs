namespace Plandex.Silo.Configuration;

/// <summary>A configuration or environment problem, reported as one line naming the setting; never a stack trace.</summary>
internal sealed class SettingsError(string setting, string problem) : Exception($"{setting}: {problem}")
{
    public string Setting { get; } = setting;
}
