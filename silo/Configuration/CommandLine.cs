namespace Plandex.Silo.Configuration;

/// <summary>
/// The silo's command line: an optional verb (<c>run</c>, the default, or <c>migrate</c>) then settings as
/// <c>--Section:Key=value</c> or <c>--Section:Key value</c>. Unknown options are refused by name.
/// </summary>
internal sealed record CommandLine(string Verb, IReadOnlyDictionary<string, string?> Settings, string? GrantTo)
{
    public static CommandLine Parse(string[] args)
    {
        var verb = "run";
        var i = 0;
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            verb = args[0];
            if (verb is not ("run" or "migrate")) throw new SettingsError("command line", $"unknown command '{verb}' (expected run or migrate)");
            i = 1;
        }
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        string? grantTo = null;
        for (; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) throw new SettingsError("command line", $"unexpected argument '{a}'");
            var body = a[2..];
            string key; string? value;
            var eq = body.IndexOf('=');
            if (eq >= 0) { key = body[..eq]; value = body[(eq + 1)..]; }
            else
            {
                key = body;
                if (i + 1 >= args.Length) throw new SettingsError("command line", $"option '--{key}' needs a value");
                value = args[++i];
            }
            if (verb == "migrate" && key.Equals("grant-to", StringComparison.OrdinalIgnoreCase)) { grantTo = value; continue; }
            if (!SiloSettings.KnownKeys.Contains(key)) throw new SettingsError("command line", $"unknown option '--{key}'");
            settings[key] = value;
        }
        return new CommandLine(verb, settings, grantTo);
    }
}
