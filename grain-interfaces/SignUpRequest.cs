namespace Plandex.GrainInterfaces;

/// <summary>
/// Sign-up is gated: an invite code, the server's bootstrap secret (first owner only), or open sign-up when the
/// server allows it. Secrets are excluded from ToString so a logged request never prints them.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SignUpRequest(
    [property: Id(0)] string Email,
    [property: Id(1)] string Name,
    [property: Id(2)] string? InviteCode = null,
    [property: Id(3)] string? BootstrapSecret = null)
{
    private bool PrintMembers(System.Text.StringBuilder b)
    {
        b.Append("Name = ").Append(Name);
        return true;
    }
}
