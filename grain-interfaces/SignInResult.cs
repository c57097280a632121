namespace Plandex.GrainInterfaces;

/// <summary>A new session. The token is shown to its owner once; the server keeps only its SHA-256.</summary>
[GenerateSerializer, Immutable]
public sealed record SignInResult(
    [property: Id(0)] Guid AccountId,
    [property: Id(1)] Guid OrgId,
    [property: Id(2)] string Email,
    [property: Id(3)] string Token,
    [property: Id(4)] DateTimeOffset ExpiresAt)
{
    private bool PrintMembers(System.Text.StringBuilder b)
    {
        b.Append("AccountId = ").Append(AccountId).Append(", OrgId = ").Append(OrgId);
        return true;
    }
}
