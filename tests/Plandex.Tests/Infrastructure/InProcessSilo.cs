using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Configuration;
using Plandex.Client.Connection;
using Plandex.Silo.Configuration;
using Plandex.Silo.Hosting;

namespace Plandex.Tests.Infrastructure;

/// <summary>
/// A silo hosted in the test process, composed exactly like the real one (sealed AdoNet storage, AdoNet
/// reminders and clustering on the test's PostgreSQL, the authorization filter, the grains' services) but with a
/// <see cref="FakeTimeProvider"/> as the clock, also for reminders: tests move days in milliseconds. Clients reach
/// it through its real gateway socket.
/// </summary>
public sealed class InProcessSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly NpgsqlDataSource _db;

    private InProcessSilo(IHost host, NpgsqlDataSource db, int gatewayPort, FakeTimeProvider clock)
    {
        _host = host;
        _db = db;
        GatewayPort = gatewayPort;
        Clock = clock;
    }

    public int GatewayPort { get; }
    public FakeTimeProvider Clock { get; }
    public IServiceProvider Services => _host.Services;
    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public static async Task<InProcessSilo> StartAsync(TestDatabase db, FakeTimeProvider clock,
        IReadOnlyDictionary<string, string>? settings = null, string clusterId = "inproc")
    {
        var gateway = Ports.Free();
        var siloPort = Ports.Free();
        var values = new Dictionary<string, string?>
        {
            ["Database:ConnectionString"] = db.AppConnectionString,
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

        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(dataSource);
        builder.Services.AddSingleton(s);
        // The fake clock drives the grains and the reminder service (Orleans' keyed "Reminders" clock).
        builder.Services.AddSingleton<TimeProvider>(clock);
        builder.Services.AddKeyedSingleton<TimeProvider>("Reminders", clock);
        SiloHost.AddServices(builder.Services, s);
        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = s.Cluster.ServiceId; });
            silo.ConfigureEndpoints(System.Net.IPAddress.Loopback, siloPort, gateway);
            silo.UseAdoNetClustering(o => { o.Invariant = "Npgsql"; o.ConnectionString = s.Database.PooledConnectionString(); });
            SiloHost.AddStorageAndReminders(silo, s);
        });
        var host = builder.Build();
        await host.StartAsync();
        return new InProcessSilo(host, dataSource, gateway, clock);
    }

    public Task<PlandexClient> ConnectAsync(string? token = null, string clusterId = "inproc") =>
        PlandexClient.ConnectAsync(new PlandexClientOptions
        {
            Server = new ServerAddress([new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, GatewayPort)]),
            ClusterId = clusterId,
            SessionToken = token,
        });

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { /* best effort in teardown */ }
        _host.Dispose();
        await _db.DisposeAsync();
    }
}
