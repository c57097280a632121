using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Retention;

/// <summary>
/// Runs the retention schedule from durable (AdoNet) reminders. Ticks may be late or repeated: each tick is
/// mapped to its epoch (time floored to the epoch period) and processed at most once.
/// </summary>
internal sealed partial class RetentionGrain(
    [PersistentState("retention")] IPersistentState<RetentionState> state,
    IOptions<RetentionOptions> options,
    TimeProvider time,
    ILogger<RetentionGrain> log) : Grain, IRetentionGrain, IRemindable
{
    public const string EpochReminder = "epoch";

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != EpochReminder) return;
        var period = options.Value.EpochPeriod;
        var now = time.GetUtcNow();
        var epochStart = new DateTimeOffset(now.UtcTicks - now.UtcTicks % period.Ticks, TimeSpan.Zero);
        if (epochStart <= state.State.LastEpochStart) return; // duplicate or late tick: already done
        state.State.LastEpochStart = epochStart;
        state.State.EpochTicks++;
        await state.WriteStateAsync();
        PlandexMetrics.RetentionEpochTicks.Add(1);
        LogEpoch(log, epochStart);
    }

    public Task<long> EpochTicks() => Task.FromResult(state.State.EpochTicks);

    public async Task EnsureScheduled()
    {
        if (await this.GetReminder(EpochReminder) is null)
            await this.RegisterOrUpdateReminder(EpochReminder, options.Value.EpochPeriod, options.Value.EpochPeriod);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "retention epoch {EpochStart:u} processed")]
    private static partial void LogEpoch(ILogger logger, DateTimeOffset epochStart);
}
