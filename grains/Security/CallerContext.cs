using Plandex.GrainInterfaces;

namespace Plandex.Grains.Security;

/// <summary>
/// The authenticated caller, as the silo's <see cref="AuthorizationFilter"/> recorded it for this call.
/// Grains read identity only from here.
/// </summary>
public static class CallerContext
{
    internal const string SessionKey = "plx-session";

    /// <summary>The caller's account id; throws when the call carries no authenticated identity.</summary>
    public static Guid RequireAccount() =>
        RequestContext.Get(AuthContextKeys.CallerAccount) is Guid id ? id : throw new AccessDeniedException("sign in first");

    /// <summary>SHA-256 of the session token this call was made with (for sign-out).</summary>
    public static byte[]? SessionHash() => RequestContext.Get(SessionKey) as byte[];
}
