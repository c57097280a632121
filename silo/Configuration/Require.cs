namespace Plandex.Silo.Configuration;

internal static class Require
{
    public static void NotEmpty(string value, string setting)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new SettingsError(setting, "is required");
    }

    public static void Port(int value, string setting)
    {
        if (value is < 1 or > 65535) throw new SettingsError(setting, $"{value} is not a port (1-65535)");
    }

    public static void Positive(TimeSpan value, string setting)
    {
        if (value <= TimeSpan.Zero) throw new SettingsError(setting, "must be a positive duration");
    }
}
