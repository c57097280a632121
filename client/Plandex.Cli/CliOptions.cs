using System.CommandLine;

namespace Plandex.Cli;

internal static class CliOptions
{
    public static readonly Option<string?> Server = new("--server")
    {
        Description = "gateway host:port[,host:port] (default: $PLANDEX_SERVER, else 127.0.0.1:30000)",
        Recursive = true,
    };
}
