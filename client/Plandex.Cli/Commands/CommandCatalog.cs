using System.CommandLine;

namespace Plandex.Cli.Commands;

internal static class CommandCatalog
{
    public static IEnumerable<Command> All() =>
    [
        StatusCommand.Create(),
        .. AccountCommands.Create(),
        .. OrgCommands.Create(),
        .. PlanCommands.Create(),
        .. StreamCommands.Create(),
        .. ContextCommands.Create(),
        .. IgnoreCommands.Create(),
    ];
}
