using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Plandex.Silo.Configuration;

/// <summary>All settings, bound once from appsettings, PLANDEX_* environment variables and the command line.</summary>
internal sealed class SiloSettings
{
    public ClusterSettings Cluster { get; } = new();
    public DatabaseSettings Database { get; } = new();
    public HttpSettings Http { get; } = new();
    public MembershipSettings Membership { get; } = new();
    public TelemetrySettings Telemetry { get; } = new();

    public static SiloSettings Bind(IConfiguration config)
    {
        var s = new SiloSettings();
        Bind(config, ClusterSettings.Section, s.Cluster);
        Bind(config, DatabaseSettings.Section, s.Database);
        Bind(config, HttpSettings.Section, s.Http);
        Bind(config, MembershipSettings.Section, s.Membership);
        Bind(config, TelemetrySettings.Section, s.Telemetry);
        return s;
    }

    public void Validate()
    {
        Cluster.Validate();
        Database.Validate();
        Http.Validate();
        Membership.Validate();
        Telemetry.Validate();
    }

    /// <summary>Every "Section:Key" this host understands; anything else on the command line is an unknown option.</summary>
    public static IReadOnlySet<string> KnownKeys { get; } = new[]
        {
            (ClusterSettings.Section, typeof(ClusterSettings)), (DatabaseSettings.Section, typeof(DatabaseSettings)),
            (HttpSettings.Section, typeof(HttpSettings)), (MembershipSettings.Section, typeof(MembershipSettings)),
            (TelemetrySettings.Section, typeof(TelemetrySettings)),
        }
        .SelectMany(t => t.Item2.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite).Select(p => $"{t.Item1}:{p.Name}"))
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    // Binds property by property so a bad value names its setting instead of surfacing a binder stack trace.
    private static void Bind(IConfiguration config, string section, object target)
    {
        foreach (var p in target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var raw = config[$"{section}:{p.Name}"];
            if (raw is null) continue;
            try
            {
                object value = p.PropertyType == typeof(string) ? raw
                    : p.PropertyType == typeof(int) ? int.Parse(raw, System.Globalization.CultureInfo.InvariantCulture)
                    : p.PropertyType == typeof(bool) ? bool.Parse(raw)
                    : p.PropertyType == typeof(TimeSpan) ? TimeSpan.Parse(raw, System.Globalization.CultureInfo.InvariantCulture)
                    : throw new NotSupportedException(p.PropertyType.Name);
                p.SetValue(target, value);
            }
            catch (FormatException)
            {
                throw new SettingsError($"{section}:{p.Name}", $"'{raw}' is not a valid {Describe(p.PropertyType)}");
            }
            catch (OverflowException)
            {
                throw new SettingsError($"{section}:{p.Name}", $"'{raw}' is out of range");
            }
        }
    }

    private static string Describe(Type t) =>
        t == typeof(int) ? "integer" : t == typeof(bool) ? "boolean (true/false)" : t == typeof(TimeSpan) ? "duration (hh:mm:ss)" : t.Name;
}
