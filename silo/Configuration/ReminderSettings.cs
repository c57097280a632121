namespace Plandex.Silo.Configuration;

/// <summary>Section "Reminders". Orleans' default minimum period is 1 minute; tests lower it.</summary>
internal sealed class ReminderSettings
{
    public const string Section = "Reminders";
    public TimeSpan MinimumPeriod { get; set; } = TimeSpan.FromMinutes(1);
}
