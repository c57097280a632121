using Plandex.GrainInterfaces;

namespace Plandex.Grains.Accounts;

[GenerateSerializer]
public sealed class AccountState
{
    [Id(0)] public string Email { get; set; } = "";
    [Id(1)] public string Name { get; set; } = "";
    [Id(2)] public DateTimeOffset CreatedAt { get; set; }
    [Id(3)] public List<OrgMembership> Orgs { get; set; } = [];
}
