using System.CommandLine;

namespace Plandex.Cli.Commands;

/// <summary><c>plandex status</c>: the cluster's silos, through the project's own status grain.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var all = new Option<bool>("--all") { Description = "also list silos that have left or died" };
        var command = new Command("status", "show the cluster's silos and their status") { all };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: false, async c =>
        {
            var status = await c.Client.GetClusterStatusAsync();
            Console.WriteLine($"cluster {status.ClusterId}: {status.Silos.Count(s => s.Status == "Active")} active silo(s)");
            foreach (var silo in status.Silos.Where(s => parse.GetValue(all) || s.Status != "Dead"))
                Console.WriteLine($"  {silo.Name,-20} {silo.Address,-24} {silo.Status}");
            return 0;
        }, ct));
        return command;
    }
}
