namespace Plandex.Grains.Plans;

/// <summary>Section "Plans": limits and stream liveness.</summary>
public sealed class PlanOptions
{
    public int MaxPromptChars { get; set; } = 200_000;
    public int MaxNameChars { get; set; } = 100;
    /// <summary>Largest context body, in UTF-8 bytes (Plandex: 25 MB).</summary>
    public long MaxContextItemBytes { get; set; } = 25L * 1024 * 1024;
    /// <summary>Most context items per plan (Plandex: 1,000).</summary>
    public int MaxContextItems { get; set; } = 1000;
    /// <summary>A watcher receives a heartbeat this often when nothing else happens.</summary>
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>How long a pushed watch (Subscribe) lives without its client renewing it (clients renew every second).</summary>
    public TimeSpan WatchLease { get; set; } = TimeSpan.FromSeconds(3);
    /// <summary>Most pushed watches at once on one plan.</summary>
    public int MaxWatchers { get; set; } = 64;
    /// <summary>How often a streaming plan checks that its session is still alive.</summary>
    public TimeSpan SessionCheck { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// A stream's start (the prompt, the plan's streaming state) is written once its first chunk has gone to the
    /// watchers, or after this long, whichever is first (zero: at once). A silo lost within this time loses the prompt
    /// along with its stream.
    /// </summary>
    public TimeSpan StartWriteDelay { get; set; } = TimeSpan.FromMilliseconds(50);
}
