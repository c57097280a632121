using Plandex.GrainInterfaces;

namespace Plandex.Grains.Accounts;

[GenerateSerializer]
public sealed class OrgState
{
    [Id(0)] public string Name { get; set; } = "";
    [Id(1)] public DateTimeOffset CreatedAt { get; set; }
    [Id(2)] public List<OrgMember> Members { get; set; } = [];
    [Id(3)] public List<PlanSummary> Plans { get; set; } = [];
}
