namespace Plandex.Grains.Accounts;

/// <summary>Sign-up and session policy (section "Accounts").</summary>
public sealed class AccountsOptions
{
    /// <summary>Anyone may sign up and get their own org. On in the local quickstart, off by default.</summary>
    public bool OpenSignUp { get; set; }
    /// <summary>Lets the very first owner of a fresh server sign up. Empty: no bootstrap sign-up.</summary>
    public string BootstrapSecret { get; set; } = "";
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromDays(90);
    public TimeSpan InviteLifetime { get; set; } = TimeSpan.FromDays(7);
    public TimeSpan SignInCodeLifetime { get; set; } = TimeSpan.FromMinutes(10);
    /// <summary>Failed code attempts allowed per account (or invite email) and per source in one window.</summary>
    public int MaxFailuresPerTarget { get; set; } = 5;
    public int MaxFailuresPerSource { get; set; } = 20;
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(15);
}
