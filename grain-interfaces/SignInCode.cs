namespace Plandex.GrainInterfaces;

/// <summary>A one-time code that signs in a second device. Single use, short-lived.</summary>
[GenerateSerializer, Immutable]
public sealed record SignInCode(
    [property: Id(0)] string Code,
    [property: Id(1)] DateTimeOffset ExpiresAt)
{
    private bool PrintMembers(System.Text.StringBuilder b)
    {
        b.Append("ExpiresAt = ").Append(ExpiresAt);
        return true;
    }
}
