namespace Plandex.GrainInterfaces;

/// <summary>A member's role in an org, weakest first.</summary>
[GenerateSerializer]
public enum OrgRole
{
    Member = 0,
    Admin = 1,
    Owner = 2,
}
