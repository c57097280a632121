using System.CommandLine;
using Plandex.Cli;
using Plandex.Cli.Commands;

// `plandex`: the command-line client. Each command lives in its own small class under Commands/.
var root = new RootCommand("Plandex Actors: AI coding plans on an Orleans cluster");
root.Options.Add(CliOptions.Server);
foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
