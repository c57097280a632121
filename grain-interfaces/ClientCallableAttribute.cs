namespace Plandex.GrainInterfaces;

/// <summary>
/// Marks an interface method that external clients may call. The silo's authorization filter denies every
/// client call to a method without it (deny by default).
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class ClientCallableAttribute : Attribute
{
    /// <summary>True for the few calls that run before the caller has a session (sign-up, sign-in).</summary>
    public bool Anonymous { get; init; }

    /// <summary>
    /// True for calls that only continue something a full call of the same session started (a tell's Tell and
    /// Subscribe after its BeginTell, renewing a watch): the authorization filter may reuse a validation of the same
    /// session up to a second old instead of asking the database again, as it does for enumeration continuations.
    /// A revoked session can still make such a call within that second; the calls that begin something (BeginTell,
    /// every other call) always ask the database.
    /// </summary>
    public bool Continuation { get; init; }
}
