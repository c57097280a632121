namespace Plandex.Grains.Retention;

/// <summary>Section "Retention".</summary>
public sealed class RetentionOptions
{
    /// <summary>How often a new key epoch starts (and old ones are checked for destruction).</summary>
    public TimeSpan EpochPeriod { get; set; } = TimeSpan.FromDays(1);
    /// <summary>How long deleted data may survive in backups before its keys are gone.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Start of the epoch <paramref name="at"/> falls in (aligned to DateTime's origin: for periods dividing a day, to midnight UTC). The only place epochs are cut..</summary>
    public DateTimeOffset EpochStart(DateTimeOffset at) => new(at.UtcTicks - at.UtcTicks % EpochPeriod.Ticks, TimeSpan.Zero);
}
