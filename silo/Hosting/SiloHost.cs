using System.Net;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Console;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Orleans.Configuration;
using Orleans.Dashboard;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Providers;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using Plandex.Grains.Accounts;
using Plandex.Grains.Cluster;
using Plandex.Grains.Encryption;
using Plandex.Grains.Plans;
using Plandex.Grains.Providers;
using Plandex.Grains.Retention;
using Plandex.Grains.Security;
using Plandex.Grains.Streams;
using Plandex.Grains.Telemetry;
using Plandex.Silo.Configuration;

namespace Plandex.Silo.Hosting;

/// <summary>Builds and runs one silo: Orleans on PostgreSQL inside an ASP.NET Core app (health, metrics, dashboard).</summary>
internal static class SiloHost
{
    private const string Invariant = "Npgsql";

    public static async Task<int> RunAsync(CommandLine commandLine)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddPlandexSources(commandLine);
        var settings = Startup.LoadSettings(builder.Configuration);

        var dataSource = new NpgsqlDataSourceBuilder(settings.Database.PooledConnectionString()).Build();
        await Startup.CheckDatabaseAsync(dataSource, "Database:ConnectionString", CancellationToken.None);
        var bindSilo = settings.Cluster.ListenOnAnyAddress ? IPAddress.Any : settings.Cluster.ParsedAdvertisedAddress;
        Startup.CheckPortFree(bindSilo, settings.Cluster.SiloPort, "Cluster:SiloPort");
        Startup.CheckPortFree(bindSilo, settings.Cluster.GatewayPort, "Cluster:GatewayPort");
        var httpAddress = IPAddress.Parse(settings.Http.BindAddress);
        Startup.CheckPortFree(httpAddress, settings.Http.Port, "Http:Port");

        ConfigureLogging(builder, settings);
        builder.WebHost.UseUrls($"http://{FormatHost(httpAddress)}:{settings.Http.Port}");
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));
        builder.Services.AddSingleton(dataSource);
        builder.Services.AddSingleton(settings);
        AddServices(builder.Services, settings);
        builder.Services.AddHealthChecks().AddCheck<ClusterReadyCheck>("cluster", tags: ["ready"]);
        ConfigureTelemetry(builder, settings);

        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = settings.Cluster.ClusterId;
                o.ServiceId = settings.Cluster.ServiceId;
            });
            if (settings.Cluster.SiloName.Length > 0) silo.Configure<SiloOptions>(o => o.SiloName = settings.Cluster.SiloName);
            silo.ConfigureEndpoints(settings.Cluster.ParsedAdvertisedAddress, settings.Cluster.SiloPort,
                settings.Cluster.GatewayPort, listenOnAnyHostAddress: settings.Cluster.ListenOnAnyAddress);
            silo.UseAdoNetClustering(o => { o.Invariant = Invariant; o.ConnectionString = settings.Database.PooledConnectionString(); });
            TransportTls.Apply(silo, settings.Tls);
            AddStorageAndReminders(silo, settings);
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = settings.Membership.ProbeTimeout;
                o.NumMissedProbesLimit = settings.Membership.NumMissedProbesLimit;
                o.IAmAliveTablePublishTimeout = settings.Membership.IAmAliveTablePublishTimeout;
                o.TableRefreshTimeout = settings.Membership.TableRefreshTimeout;
            });
            // Trace context flows only where traces are exported: otherwise the two filters cost every call for nothing.
            if (settings.Telemetry.OtlpEndpoint.Length > 0) silo.AddActivityPropagation();
            if (settings.Http.DashboardEnabled)
            {
                silo.AddDashboard();
                if (!settings.Http.DashboardProfiler)
                {
                    var profiler = silo.Services.Where(d => d.ServiceType == typeof(IIncomingGrainCallFilter)
                        && d.ImplementationType?.FullName == "Orleans.Dashboard.Implementation.GrainProfilerFilter").ToList();
                    foreach (var d in profiler) silo.Services.Remove(d);
                }
            }
        });

        var app = builder.Build();
        try { _ = app.Services.GetRequiredService<ClusterCallSeal>(); } // fail fast on an unusable key directory
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new SettingsError("Security:KeyDirectory", e.Message);
        }
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        if (settings.Http.DashboardEnabled)
        {
            if (!settings.Http.DashboardAllowRemote)
            {
                // The dashboard has no authentication: answer only callers on this machine.
                app.UseWhen(ctx => ctx.Request.Path.StartsWithSegments("/dashboard"), b => b.Use(async (ctx, next) =>
                {
                    if (ctx.Connection.RemoteIpAddress is { } ip && !IPAddress.IsLoopback(ip))
                    {
                        ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                        return;
                    }
                    await next();
                }));
            }
            app.MapOrleansDashboard("/dashboard");
        }

        foreach (var warning in ProcessHardening.Apply()) app.Logger.LogWarning("hardening: {Warning}", warning);
        if (settings.ScanControl.KeepKeysAsStrings)
            app.Logger.LogWarning("ScanControl:KeepKeysAsStrings is ON: provider keys are deliberately kept in memory (test control run only)");
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(() => Console.WriteLine(
            $"silo ready: cluster '{settings.Cluster.ClusterId}', gateway {settings.Cluster.ParsedAdvertisedAddress}:{settings.Cluster.GatewayPort} ({(settings.Tls.Enabled ? "TLS" : "no TLS")}), " +
            $"dashboard http://{FormatHost(httpAddress)}:{settings.Http.Port}/dashboard"));
        try
        {
            await app.RunAsync();
            return 0;
        }
        catch (Exception e) when (e is OrleansException or IOException or System.Net.Sockets.SocketException or NpgsqlException)
        {
            Console.Error.WriteLine($"plandex-silo: failed to start: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        finally
        {
            await dataSource.DisposeAsync();
        }
    }

    /// <summary>
    /// Grain storage (sealed: every state encrypted under its subject's data key, over AdoNet), durable reminders,
    /// the authorization filter and the retention schedule. Shared with in-process test hosts.
    /// </summary>
    internal static void AddStorageAndReminders(ISiloBuilder silo, SiloSettings settings)
    {
        var cs = settings.Database.PooledConnectionString();
        // "system": plain AdoNet, for state without content (the retention grain's timestamps).
        silo.AddAdoNetGrainStorage(SystemStorage, o => { o.Invariant = Invariant; o.ConnectionString = cs; });
        silo.Services.AddGrainStorage(ProviderConstants.DEFAULT_STORAGE_PROVIDER_NAME, (sp, _) => new SealedGrainStorage(
            sp.GetRequiredKeyedService<IGrainStorage>(SystemStorage), sp.GetRequiredService<Envelope>(), sp.GetRequiredService<Serializer>(),
            sp.GetRequiredService<ILogger<SealedGrainStorage>>()));
        // Retries a deletion's grain-state clear through the inner storage: the blob it checks for is ciphertext.
        silo.Services.AddSingleton(sp => new StateSweeper(sp.GetRequiredService<NpgsqlDataSource>(),
            sp.GetRequiredKeyedService<IGrainStorage>(SystemStorage), sp.GetRequiredService<IGrainFactory>()));
        silo.UseAdoNetReminderService(o => { o.Invariant = Invariant; o.ConnectionString = cs; });
        silo.Configure<ReminderOptions>(o => o.MinimumReminderPeriod = settings.Reminders.MinimumPeriod);
        silo.AddStartupTask(RetentionScheduleStartup.RunAsync);
        // Outermost: a database failure anywhere in a call, the session check included, reaches the caller as one line.
        silo.AddIncomingGrainCallFilter<DatabaseFailures>();
        silo.AddIncomingGrainCallFilter<AuthorizationFilter>();
        silo.Services.AddSingleton<IOutgoingGrainCallFilter>(sp => sp.GetRequiredService<ClusterCallSeal>());
    }

    private const string SystemStorage = "system";

    // Services the grains use. TimeProvider is injectable so tests can move time.
    internal static void AddServices(IServiceCollection services, SiloSettings settings)
    {
        services.TryAddSingleton(TimeProvider.System);
        try { services.AddSingleton<IEpochKeyStore>(new DirectoryEpochKeyStore(settings.Security.EffectiveEpochKeyDirectory)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsError("Security:EpochKeyDirectory", e.Message);
        }
        services.AddSingleton<KeyRing>();
        services.AddSingleton<Envelope>();
        services.AddSingleton<DeletionStore>();
        services.AddSingleton<EpochRotation>();
        services.AddSingleton(Options.Create(settings.Accounts));
        services.AddSingleton(Options.Create(settings.Security));
        services.AddSingleton(Options.Create(settings.Retention));
        services.AddSingleton(Options.Create(settings.Plans));
        settings.Providers.OwnPorts.UnionWith([settings.Cluster.SiloPort, settings.Cluster.GatewayPort, settings.Http.Port]);
        services.AddSingleton(Options.Create(settings.Providers));
        services.AddSingleton<ProviderHosts>();
        services.AddSingleton<EndpointPolicy>();
        services.AddSingleton<ProviderConnectionPool>();
        services.AddSingleton<LocalPlanInboxes>();
        services.AddSingleton<ReadySessions>();
        services.AddPlacementDirector<SessionPlacementStrategy, SessionPlacementDirector>();
        services.AddSingleton<PlanStore>();
        services.AddSingleton(Options.Create(settings.ScanControl));
        services.AddSingleton<AccountStore>();
        services.AddSingleton<SessionChecks>();
        services.AddHostedService(sp => sp.GetRequiredService<SessionChecks>());
        services.AddSingleton<EmailLookup>();
        services.AddSingleton<EmailEpochs>();
        services.AddSingleton<ClusterCallSeal>();
        services.AddSingleton<FailureLimiter>();
        services.AddSingleton<InviteCodes>();
    }

    private static void ConfigureLogging(WebApplicationBuilder builder, SiloSettings settings)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.FormatterName = OneLineConsoleFormatter.FormatterName)
            .AddConsoleFormatter<OneLineConsoleFormatter, OneLineConsoleFormatter.Options>(o => o.StackTraces = settings.Telemetry.StackTraces);
    }

    private static void ConfigureTelemetry(WebApplicationBuilder builder, SiloSettings settings)
    {
        PlandexMetrics.Initialize();
        var otel = builder.Services.AddOpenTelemetry()
            .WithMetrics(m => m.AddMeter("Microsoft.Orleans", PlandexMetrics.MeterName, "System.Runtime") // System.Runtime: GC, thread pool, JIT
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0));
        // Traces leave the process only when an operator names a collector: by default nothing is sent anywhere.
        if (settings.Telemetry.OtlpEndpoint.Length > 0)
        {
            otel.WithTracing(t => t
                .AddSource("Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime", PlandexMetrics.MeterName)
                .AddOtlpExporter(o =>
                {
                    o.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
                    o.Endpoint = new Uri(settings.Telemetry.OtlpEndpoint.TrimEnd('/') + "/v1/traces");
                }));
        }
    }

    private static string FormatHost(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();
}
