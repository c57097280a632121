using Plandex.Silo.Configuration;
using Plandex.Silo.Hosting;

// Entry point: `Plandex.Silo [run|migrate] [--Section:Key=value ...]`. Every startup problem is one line on
// stderr naming the setting, and a non-zero exit code.
try
{
    var commandLine = CommandLine.Parse(args);
    return commandLine.Verb == "migrate"
        ? await MigrateCommand.RunAsync(commandLine)
        : await SiloHost.RunAsync(commandLine);
}
catch (SettingsError e)
{
    Console.Error.WriteLine($"plandex-silo: {e.Message}");
    return 2;
}
