namespace Plandex.Client.Ignore;

/// <summary>
/// Where the engine looks for user-level git configuration. Injectable so tests never see the real
/// user's ~/.gitconfig or global ignore file.
/// </summary>
public sealed class IgnoreOptions
{
    /// <summary>$HOME: for ~/.gitconfig, "~/" in config paths and the ~/.config/git fallback.</summary>
    public string? HomeDirectory { get; init; }

    /// <summary>$XDG_CONFIG_HOME; when null or empty git falls back to $HOME/.config.</summary>
    public string? XdgConfigHome { get; init; }

    /// <summary>System-wide gitconfig (git's default is /etc/gitconfig); null to skip, like GIT_CONFIG_NOSYSTEM=1.</summary>
    public string? SystemConfigPath { get; init; }

    /// <summary>Overrides the global config files (git's GIT_CONFIG_GLOBAL); null means the usual XDG + ~/.gitconfig pair.</summary>
    public string? GlobalConfigPath { get; init; }

    /// <summary>The project's own ignore file name, read in every directory as a second, additive rule system.</summary>
    public string CustomIgnoreFileName { get; init; } = ".plandexignore";

    /// <summary>Options from this process's environment, resolved the way git resolves them.</summary>
    public static IgnoreOptions FromEnvironment()
    {
        string? home = Environment.GetEnvironmentVariable("HOME");
        if (string.IsNullOrEmpty(home))
            home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string? system = null;
        if (!IsTruthy(Environment.GetEnvironmentVariable("GIT_CONFIG_NOSYSTEM")))
        {
            system = Environment.GetEnvironmentVariable("GIT_CONFIG_SYSTEM");
            if (string.IsNullOrEmpty(system))
                system = OperatingSystem.IsWindows() ? null : "/etc/gitconfig";
        }
        string? global = Environment.GetEnvironmentVariable("GIT_CONFIG_GLOBAL");
        return new IgnoreOptions
        {
            HomeDirectory = string.IsNullOrEmpty(home) ? null : home,
            XdgConfigHome = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME"),
            SystemConfigPath = system,
            GlobalConfigPath = string.IsNullOrEmpty(global) ? null : global,
        };
    }

    private static bool IsTruthy(string? v) => GitConfigReader.ParseBool(v) == true && v != null;

    /// <summary>$XDG_CONFIG_HOME/git/{name}, or $HOME/.config/git/{name} when XDG is unset.</summary>
    internal string? XdgGitPath(string name)
    {
        if (!string.IsNullOrEmpty(XdgConfigHome))
            return Path.Combine(XdgConfigHome, "git", name);
        if (!string.IsNullOrEmpty(HomeDirectory))
            return Path.Combine(HomeDirectory, ".config", "git", name);
        return null;
    }
}
