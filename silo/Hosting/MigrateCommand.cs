using Microsoft.Extensions.Configuration;
using Npgsql;
using Plandex.Silo.Configuration;
using Plandex.Silo.Migrations;

namespace Plandex.Silo.Hosting;

/// <summary><c>Plandex.Silo migrate [--grant-to ROLE]</c>: brings the schema up to date, then exits.</summary>
internal static class MigrateCommand
{
    public static async Task<int> RunAsync(CommandLine commandLine)
    {
        var config = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddPlandexSources(commandLine)
            .Build();
        var db = SiloSettings.Bind(config).Database;
        db.Validate();
        await using var dataSource = NpgsqlDataSource.Create(db.ConnectionString);
        await Startup.CheckDatabaseAsync(dataSource, "Database:ConnectionString", CancellationToken.None);
        try
        {
            var applied = await new Migrator(dataSource).MigrateAsync(commandLine.GrantTo, CancellationToken.None);
            Console.WriteLine(applied.Count == 0
                ? "schema is up to date"
                : $"applied {applied.Count} migration(s): {string.Join(", ", applied)}");
            return 0;
        }
        catch (Exception e) when (e is PostgresException or InvalidOperationException)
        {
            Console.Error.WriteLine($"plandex-silo: migrate failed: {e.Message}");
            return 1;
        }
    }
}
