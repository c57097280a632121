using System.Reflection;
using Microsoft.Extensions.Configuration;
using Plandex.Grains.Accounts;
using Plandex.Grains.Plans;
using Plandex.Grains.Providers;
using Plandex.Grains.Retention;
using Plandex.Grains.Security;
using Plandex.Grains.Streams;

namespace Plandex.Silo.Configuration;

/// <summary>All settings, bound once from appsettings, PLANDEX_* environment variables and the command line.</summary>
internal sealed class SiloSettings
{
    public ClusterSettings Cluster { get; } = new();
    public TlsSettings Tls { get; } = new();
    public DatabaseSettings Database { get; } = new();
    public HttpSettings Http { get; } = new();
    public MembershipSettings Membership { get; } = new();
    public TelemetrySettings Telemetry { get; } = new();
    public AccountsOptions Accounts { get; } = new();
    public SecurityOptions Security { get; } = new();
    public RetentionOptions Retention { get; } = new();
    public ReminderSettings Reminders { get; } = new();
    public PlanOptions Plans { get; } = new();
    public ProvidersOptions Providers { get; } = new();
    public ScanControlOptions ScanControl { get; } = new();

    public static SiloSettings Bind(IConfiguration config)
    {
        RefuseUnknown(config, Environment.GetEnvironmentVariables().Keys.Cast<string>());
        var s = new SiloSettings();
        Bind(config, ClusterSettings.Section, s.Cluster);
        Bind(config, TlsSettings.Section, s.Tls);
        Bind(config, DatabaseSettings.Section, s.Database);
        Bind(config, HttpSettings.Section, s.Http);
        Bind(config, MembershipSettings.Section, s.Membership);
        Bind(config, TelemetrySettings.Section, s.Telemetry);
        Bind(config, "Accounts", s.Accounts);
        Bind(config, "Security", s.Security);
        Bind(config, "Retention", s.Retention);
        Bind(config, ReminderSettings.Section, s.Reminders);
        Bind(config, "Plans", s.Plans);
        Bind(config, "Providers", s.Providers);
        Bind(config, "ScanControl", s.ScanControl);
        return s;
    }

    public void Validate()
    {
        Cluster.Validate();
        Tls.Validate(Cluster);
        Database.Validate();
        Http.Validate();
        Membership.Validate();
        Telemetry.Validate();
        Require.NotEmpty(Security.KeyDirectory, "Security:KeyDirectory");
        Require.Positive(Retention.EpochPeriod, "Retention:EpochPeriod");
        Require.Positive(Retention.Window, "Retention:Window");
        Require.Positive(Reminders.MinimumPeriod, "Reminders:MinimumPeriod");
        Require.Positive(Plans.Heartbeat, "Plans:Heartbeat");
        Require.Positive(Plans.SessionCheck, "Plans:SessionCheck");
        if (Plans.StartWriteDelay < TimeSpan.Zero || Plans.StartWriteDelay > TimeSpan.FromSeconds(5))
            throw new SettingsError("Plans:StartWriteDelay", "must be between 0 and 5 seconds");
        if (Plans.WatchLease < TimeSpan.FromSeconds(2)) throw new SettingsError("Plans:WatchLease", "must be at least 2 seconds (clients renew every second)");
        if (Plans.MaxWatchers < 1) throw new SettingsError("Plans:MaxWatchers", "must be at least 1");
        if (Plans.MaxPromptChars < 1) throw new SettingsError("Plans:MaxPromptChars", "must be at least 1");
        if (Plans.MaxContextItems < 1) throw new SettingsError("Plans:MaxContextItems", "must be at least 1");
        if (Plans.MaxContextItemBytes < 1) throw new SettingsError("Plans:MaxContextItemBytes", "must be at least 1");
        Require.Positive(Providers.StallTimeout, "Providers:StallTimeout");
        Require.Positive(Providers.MaxStreamDuration, "Providers:MaxStreamDuration");
        if (Providers.BatchWindow < TimeSpan.Zero) throw new SettingsError("Providers:BatchWindow", "must not be negative");
        if (Providers.BatchWindowLoaded < TimeSpan.Zero) throw new SettingsError("Providers:BatchWindowLoaded", "must not be negative");
        if (Providers.BatchWindowLoadedAt < 0) throw new SettingsError("Providers:BatchWindowLoadedAt", "must not be negative");
        if (Providers.ConnectionIdleTimeout < TimeSpan.Zero) throw new SettingsError("Providers:ConnectionIdleTimeout", "must not be negative");
        if (Providers.MaxIdleConnectionsPerEndpoint < 0) throw new SettingsError("Providers:MaxIdleConnectionsPerEndpoint", "must not be negative");
        if (Providers.HostCacheLifetime < TimeSpan.Zero || Providers.HostCacheLifetime > TimeSpan.FromHours(1))
            throw new SettingsError("Providers:HostCacheLifetime", "must be between 0 and 1 hour");
        if (Providers.ReadySessions is < 0 or > 64) throw new SettingsError("Providers:ReadySessions", "must be between 0 and 64");
        foreach (var e in Providers.AllowedEndpointList)
            if (!Uri.TryCreate(e, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new SettingsError("Providers:AllowedEndpoints", $"'{e}' is not an http(s) URL");
        if (Retention.Window < Retention.EpochPeriod)
            throw new SettingsError("Retention:Window", $"must be at least Retention:EpochPeriod ({Retention.EpochPeriod})");
        if (Retention.EpochPeriod < Reminders.MinimumPeriod)
            throw new SettingsError("Retention:EpochPeriod", $"must be at least Reminders:MinimumPeriod ({Reminders.MinimumPeriod})");
        Require.Positive(Accounts.SessionLifetime, "Accounts:SessionLifetime");
        Require.Positive(Accounts.InviteLifetime, "Accounts:InviteLifetime");
        Require.Positive(Accounts.SignInCodeLifetime, "Accounts:SignInCodeLifetime");
        Require.Positive(Accounts.FailureWindow, "Accounts:FailureWindow");
        if (Accounts.MaxFailuresPerTarget < 1) throw new SettingsError("Accounts:MaxFailuresPerTarget", "must be at least 1");
        if (Accounts.MaxFailuresPerSource < 1) throw new SettingsError("Accounts:MaxFailuresPerSource", "must be at least 1");
        if (Accounts.BootstrapSecret.Length is > 0 and < 16)
            throw new SettingsError("Accounts:BootstrapSecret", "must be at least 16 characters");
    }

    /// <summary>Each settings section and the type it binds to.</summary>
    private static readonly (string Section, Type Type)[] Sections =
    [
        (ClusterSettings.Section, typeof(ClusterSettings)), (TlsSettings.Section, typeof(TlsSettings)),
        (DatabaseSettings.Section, typeof(DatabaseSettings)),
        (HttpSettings.Section, typeof(HttpSettings)), (MembershipSettings.Section, typeof(MembershipSettings)),
        (TelemetrySettings.Section, typeof(TelemetrySettings)), ("Accounts", typeof(AccountsOptions)),
        ("Security", typeof(SecurityOptions)), ("Retention", typeof(RetentionOptions)),
        (ReminderSettings.Section, typeof(ReminderSettings)), ("Plans", typeof(PlanOptions)),
        ("Providers", typeof(ProvidersOptions)), ("ScanControl", typeof(ScanControlOptions)),
    ];

    /// <summary>Every "Section:Key" this host understands; anything else on the command line is an unknown option.</summary>
    public static IReadOnlySet<string> KnownKeys { get; } = Sections
        .SelectMany(t => t.Type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite).Select(p => $"{t.Section}:{p.Name}"))
        .ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Refuses, by name, a setting this host does not have. .NET's configuration ignores keys nothing binds, so a
    /// misspelt <c>PLANDEX_Providers__BatchWindowLoded</c> (or <c>PLANDEX_Provider__…</c>) would otherwise run with
    /// the default and no word. Checks every key under our sections, from any source, and every sectioned
    /// <c>PLANDEX_</c> environment variable (those are ours by their prefix; <c>Logging</c> is the host's).
    /// </summary>
    public static void RefuseUnknown(IConfiguration config, IEnumerable<string> environmentNames)
    {
        foreach (var (section, _) in Sections)
            foreach (var child in config.GetSection(section).GetChildren())
                if (!KnownKeys.Contains($"{section}:{child.Key}"))
                    throw new SettingsError($"{section}:{child.Key}", $"is not a setting (the {section} settings are {string.Join(", ", KeysOf(section))})");
        const string prefix = "PLANDEX_";
        foreach (var name in environmentNames)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.Contains("__", StringComparison.Ordinal)) continue;
            var section = name[prefix.Length..name.IndexOf("__", StringComparison.Ordinal)];
            if (!section.Equals("Logging", StringComparison.OrdinalIgnoreCase) && !Sections.Any(t => t.Section.Equals(section, StringComparison.OrdinalIgnoreCase)))
                throw new SettingsError(name, $"names no settings section (the sections are {string.Join(", ", Sections.Select(t => t.Section))}, and Logging)");
        }
    }

    private static IEnumerable<string> KeysOf(string section) =>
        KnownKeys.Where(k => k.StartsWith(section + ":", StringComparison.OrdinalIgnoreCase)).Select(k => k[(section.Length + 1)..]).Order(StringComparer.Ordinal);

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
                    : p.PropertyType == typeof(long) ? long.Parse(raw, System.Globalization.CultureInfo.InvariantCulture)
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
        t == typeof(int) || t == typeof(long) ? "integer" : t == typeof(bool) ? "boolean (true/false)" : t == typeof(TimeSpan) ? "duration (hh:mm:ss)" : t.Name;
}
