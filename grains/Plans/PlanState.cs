using Plandex.GrainInterfaces;

namespace Plandex.Grains.Plans;

/// <summary>The plan's small, persistent state. Conversation and context bodies live in their own tables.</summary>
[GenerateSerializer]
public sealed class PlanState
{
    [Id(0)] public Guid OrgId { get; set; }
    [Id(1)] public Guid OwnerId { get; set; }
    [Id(2)] public string Name { get; set; } = "";
    [Id(3)] public DateTimeOffset CreatedAt { get; set; }
    [Id(4)] public PlanStatus Status { get; set; }
    [Id(5)] public ModelSettings Model { get; set; } = new("openai", "gpt-4.1");
    [Id(6)] public Guid? ActiveStreamId { get; set; }
    [Id(7)] public string? LastError { get; set; }
    [Id(8)] public int MessageCount { get; set; }
    [Id(9)] public Guid? StreamStartedBy { get; set; }
    [Id(10)] public DateTimeOffset? StreamStartedAt { get; set; }
}
