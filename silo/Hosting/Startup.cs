using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Npgsql;
using Plandex.Silo.Configuration;

namespace Plandex.Silo.Hosting;

/// <summary>Checks done before the host starts, so a bad environment fails with one line naming the setting.</summary>
internal static class Startup
{
    public static IConfigurationBuilder AddPlandexSources(this IConfigurationBuilder config, CommandLine commandLine) =>
        config.AddEnvironmentVariables("PLANDEX_").AddInMemoryCollection(commandLine.Settings);

    public static SiloSettings LoadSettings(IConfiguration config)
    {
        var settings = SiloSettings.Bind(config);
        settings.Validate();
        return settings;
    }

    public static async Task CheckDatabaseAsync(NpgsqlDataSource db, string setting, CancellationToken ct)
    {
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var cmd = new NpgsqlCommand("SELECT 1", conn);
            await cmd.ExecuteScalarAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or InvalidOperationException)
        {
            // Npgsql messages name host/port/database, never the password.
            throw new SettingsError(setting, $"cannot reach the database ({Inner(e).Message.TrimEnd('.')})");
        }
    }

    public static void CheckPortFree(IPAddress address, int port, string setting)
    {
        try
        {
            var l = new TcpListener(address, port);
            l.Start();
            l.Stop();
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new SettingsError(setting, $"port {port} is already in use");
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            throw new SettingsError(setting, $"address {address} is not an address of this machine");
        }
    }

    private static Exception Inner(Exception e) => e.InnerException is { } i && e is not PostgresException ? Inner(i) : e;
}
