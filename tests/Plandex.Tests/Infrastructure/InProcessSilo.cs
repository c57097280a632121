using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Reminders;
using Plandex.Client.Connection;
using Plandex.Grains.Retention;
using Plandex.Silo.Configuration;
using Plandex.Silo.Hosting;

namespace Plandex.Tests.Infrastructure;

/// <summary>
/// A silo hosted in the test process, composed exactly like the real one (sealed AdoNet storage, AdoNet
/// reminders and clustering on the test's PostgreSQL, the authorization filter, the grains' services) but with a
/// <see cref="FakeTimeProvider"/> as the business clock: the grains' <see cref="TimeProvider"/> and the reminder
/// service's (keyed <see cref="ReminderTimeProviderNames.Reminders"/>), so tests move days in milliseconds.
/// Orleans' own runtime clocks (messaging, membership, system timers, activation management, grain timers,
/// directory) stay real: they default to the unkeyed TimeProvider, and a frozen clock there stops membership
/// heartbeats, response timeouts and the activation collector. Reminders stay loaded however far the clock jumps
/// (see ReminderLoadingWindow below). Clients reach it through its real gateway socket.
/// </summary>
public sealed class InProcessSilo : IAsyncDisposable
{
    // Orleans' runtime areas that resolve their clock by key (Orleans.Runtime.TimeProviderNames, 10.x).
    private static readonly string[] RuntimeClocks =
    [
        Orleans.Runtime.TimeProviderNames.Grains,
        Orleans.Runtime.TimeProviderNames.Messaging,
        Orleans.Runtime.TimeProviderNames.SystemTimers,
        Orleans.Runtime.TimeProviderNames.Membership,
        Orleans.Runtime.TimeProviderNames.ActivationManagement,
        Orleans.Runtime.TimeProviderNames.GrainDirectory,
    ];

    private readonly IHost _host;
    private readonly NpgsqlDataSource _db;
    private readonly LineCollector _log;
    private readonly ReminderWatch _reminders;

    private InProcessSilo(IHost host, NpgsqlDataSource db, int gatewayPort, FakeTimeProvider clock, LineCollector log, string clusterId, ReminderWatch reminders)
    {
        _host = host;
        _db = db;
        _reminders = reminders;
        GatewayPort = gatewayPort;
        Clock = clock;
        _log = log;
        ClusterId = clusterId;
    }

    public int GatewayPort { get; }
    public string ClusterId { get; }
    public FakeTimeProvider Clock { get; }
    public IServiceProvider Services => _host.Services;
    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();
    /// <summary>Log lines (Information and up; Plandex at Debug), "category: message".</summary>
    public IReadOnlyList<string> Lines => _log.Lines.ToList();

    /// <summary>
    /// Moves the clock on by <paramref name="by"/> once the retention epoch reminder is armed on this silo (see
    /// <see cref="ReminderWatch"/>): a tick the move passes is then delivered, not skipped. Single-silo tests only.
    /// </summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        await _reminders.ArmedAsync(RetentionGrain.EpochReminder, ArmWait);
        Clock.Advance(by);
    }

    /// <summary>Sets the clock to <paramref name="at"/> once the epoch reminder is armed here (as <see cref="AdvanceAsync"/>).</summary>
    public async Task SetNowAsync(DateTimeOffset at)
    {
        await _reminders.ArmedAsync(RetentionGrain.EpochReminder, ArmWait);
        Clock.SetUtcNow(at);
    }

    /// <summary>Waits until this silo has delivered <paramref name="count"/> epoch ticks in all.</summary>
    public Task EpochTicksDeliveredAsync(int count) => _reminders.CompletedAsync(RetentionGrain.EpochReminder, count, ArmWait);

    // The reminder table's first read at start, or a tick's own work, under a loaded 2-core CI machine.
    private static readonly TimeSpan ArmWait = TimeSpan.FromSeconds(30);

    public static async Task<InProcessSilo> StartAsync(TestDatabase db, FakeTimeProvider clock,
        IReadOnlyDictionary<string, string>? settings = null, string clusterId = "inproc", Action<ISiloBuilder>? extra = null)
    {
        var gateway = Ports.Free();
        var siloPort = Ports.Free();
        var values = new Dictionary<string, string?>
        {
            ["Database:ConnectionString"] = db.AppConnectionString,
            ["Database:MaxPoolSize"] = "20",
            ["Cluster:ClusterId"] = clusterId,
            ["Cluster:SiloName"] = "inproc",
            ["Cluster:SiloPort"] = siloPort.ToString(),
            ["Cluster:GatewayPort"] = gateway.ToString(),
            ["Security:KeyDirectory"] = db.KeyDirectory,
            ["Accounts:OpenSignUp"] = "true",
        };
        if (settings is not null) foreach (var (k, v) in settings) values[k] = v;
        var config = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var s = Startup.LoadSettings(config);
        var dataSource = new NpgsqlDataSourceBuilder(s.Database.PooledConnectionString()).Build();
        var log = new LineCollector();

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Orleans", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Logging.AddFilter("Plandex", LogLevel.Debug);
        builder.Logging.AddProvider(log);
        builder.Services.AddSingleton(dataSource);
        builder.Services.AddSingleton(s);
        // Registered before SiloHost.AddServices and Orleans, which only TryAdd TimeProvider.System.
        builder.Services.AddSingleton<TimeProvider>(clock);
        SiloHost.AddServices(builder.Services, s);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = s.Cluster.ServiceId; });
            silo.Configure<SiloOptions>(o => o.SiloName = s.Cluster.SiloName);
            silo.ConfigureEndpoints(System.Net.IPAddress.Loopback, siloPort, gateway);
            silo.UseAdoNetClustering(o => { o.Invariant = "Npgsql"; o.ConnectionString = s.Database.PooledConnectionString(); });
            SiloHost.AddStorageAndReminders(silo, s);
            // Orleans loads a reminder into memory only within ReminderLoadingWindow (10 min) of its next tick, and a
            // table refresh computes that tick from "now": a clock that jumps a day skips the tick it jumped over.
            // Real time never jumps; here every reminder stays loaded so a jump delivers what it passed.
            silo.Configure<ReminderOptions>(o => o.ReminderLoadingWindow = TimeSpan.FromDays(365));
            extra?.Invoke(silo); // a test's own additions (e.g. a call filter that observes)
        });
        // After UseOrleans so these win over any default Orleans registers for the same keys (last one wins).
        foreach (var key in RuntimeClocks) builder.Services.AddKeyedSingleton(key, TimeProvider.System);
        builder.Services.AddKeyedSingleton<TimeProvider>(ReminderTimeProviderNames.Reminders, clock);

        var host = builder.Build();
        // Subscribed before the start, so the first arming (at the reminder table's first read) is seen.
        var reminders = new ReminderWatch(siloPort);
        try { await host.StartAsync(); }
        catch
        {
            reminders.Dispose();
            host.Dispose();
            await dataSource.DisposeAsync();
            throw;
        }
        return new InProcessSilo(host, dataSource, gateway, clock, log, clusterId, reminders);
    }

    public Task<PlandexClient> ConnectAsync(string? token = null) =>
        PlandexClient.ConnectAsync(new PlandexClientOptions
        {
            Server = new ServerAddress([new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, GatewayPort)]),
            ClusterId = ClusterId,
            SessionToken = token,
        });

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { /* best effort in teardown */ }
        _host.Dispose();
        _reminders.Dispose();
        await _db.DisposeAsync();
    }

    /// <summary>Keeps every log line in memory (tests wait for and assert on them).</summary>
    private sealed class LineCollector : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose() { }

        private sealed class Logger(LineCollector owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var line = $"{logLevel}: {category}: {formatter(state, exception)}";
                if (exception is not null) line += $" ({exception.GetType().Name}: {exception.Message})";
                owner.Lines.Enqueue(line);
            }
        }
    }
}
