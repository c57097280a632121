namespace Plandex.GrainInterfaces;

/// <summary>A single-use invite. The code is shown once to the inviter; the server keeps only its hash.</summary>
[GenerateSerializer, Immutable]
public sealed record InviteCreated(
    [property: Id(0)] string Email,
    [property: Id(1)] OrgRole Role,
    [property: Id(2)] string Code,
    [property: Id(3)] DateTimeOffset ExpiresAt)
{
    private bool PrintMembers(System.Text.StringBuilder b)
    {
        b.Append("Role = ").Append(Role).Append(", ExpiresAt = ").Append(ExpiresAt);
        return true;
    }
}
