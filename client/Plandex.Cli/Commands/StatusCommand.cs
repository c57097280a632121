using System.CommandLine;

namespace Plandex.Cli.Commands;

/// <summary><c>plandex status</c>: the cluster's silos, through the project's own status grain.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var command = new Command("status", "show the cluster's silos and their status");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: false, async client =>
        {
            var status = await client.GetClusterStatusAsync();
            Console.WriteLine($"cluster {status.ClusterId}: {status.Silos.Count(s => s.Status == "Active")} active silo(s)");
            foreach (var silo in status.Silos) Console.WriteLine($"  {silo.Name,-20} {silo.Address,-24} {silo.Status}");
            return 0;
        }, ct));
        return command;
    }
}
