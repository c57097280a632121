using System.CommandLine;
using Plandex.Client.Ignore;

namespace Plandex.Cli.Commands;

/// <summary>Offline commands (no server, no sign-in): what the ignore rules let leave this machine.</summary>
internal static class IgnoreCommands
{
    public static IEnumerable<Command> Create() => [LsFiles(), CheckIgnore()];

    private static Command LsFiles()
    {
        var dir = new Argument<string?>("dir") { Description = "directory to list (default: the current directory)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("ls-files", "list the files the ignore rules allow loading (like git ls-files --others --exclude-standard)") { dir };
        command.SetAction(parse => IgnoreCli.LsFiles(parse.GetValue(dir) ?? ".", Console.Out, Console.Error));
        return command;
    }

    private static Command CheckIgnore()
    {
        var paths = new Argument<string[]>("path") { Description = "paths to check", Arity = ArgumentArity.OneOrMore };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "name the deciding file, line and pattern" };
        var nonMatching = new Option<bool>("--non-matching", "-n") { Description = "also list paths no rule matches (with -v)" };
        var command = new Command("check-ignore", "tell which paths the ignore rules exclude, and why") { paths, verbose, nonMatching };
        command.SetAction(parse => IgnoreCli.CheckIgnore(parse.GetValue(paths)!, parse.GetValue(verbose), parse.GetValue(nonMatching), Console.Out, Console.Error));
        return command;
    }
}
