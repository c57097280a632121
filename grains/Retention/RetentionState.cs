namespace Plandex.Grains.Retention;

[GenerateSerializer]
public sealed class RetentionState
{
    /// <summary>Start of the last epoch processed; a repeated or late tick for the same epoch is a no-op.</summary>
    [Id(0)] public DateTimeOffset LastEpochStart { get; set; }
    [Id(1)] public long EpochTicks { get; set; }
}
