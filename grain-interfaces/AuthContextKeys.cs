namespace Plandex.GrainInterfaces;

/// <summary>RequestContext keys shared by clients and the silo's authorization filter.</summary>
public static class AuthContextKeys
{
    /// <summary>The caller's session token (set by clients, removed by the silo filter before grain code runs).</summary>
    public const string SessionToken = "plx-token";
    /// <summary>The authenticated account id, set by the silo filter; grains read it, clients cannot forge it.</summary>
    public const string CallerAccount = "plx-caller";
}
