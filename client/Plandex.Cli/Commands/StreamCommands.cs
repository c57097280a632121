using System.CommandLine;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;

namespace Plandex.Cli.Commands;

/// <summary>tell, continue, connect, stop: the path of a tell starts here (see Client/Streams/PlanStreams).</summary>
internal static class StreamCommands
{
    public static IEnumerable<Command> Create() => [Tell(), Continue(), Connect(), Stop()];

    private static Command Tell()
    {
        var prompt = new Argument<string>("prompt") { Description = "what you want done" };
        var baseUrl = new Option<string?>("--base-url") { Description = "send your key to this endpoint (default: your own setting or the provider's)" };
        var command = new Command("tell", "send a prompt to the current plan and stream the reply") { prompt, baseUrl };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true,
            c => TellAndWatch(c, parse.GetValue(prompt)!, parse.GetValue(baseUrl), ct), ct));
        return command;
    }

    private static Command Continue()
    {
        var baseUrl = new Option<string?>("--base-url") { Description = "send your key to this endpoint" };
        var command = new Command("continue", "ask the model to continue the current plan") { baseUrl };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true,
            c => TellAndWatch(c, "Continue.", parse.GetValue(baseUrl), ct), ct));
        return command;
    }

    private static Command Connect()
    {
        var command = new Command("connect", "attach to the current plan's stream (replays what was produced, then follows)");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, c => WatchAsync(c.Client, Cli.CurrentPlan(c), ct), ct));
        return command;
    }

    private static Command Stop()
    {
        var command = new Command("stop", "stop the current plan's stream (the partial reply is kept)");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            await c.Client.Plan(Cli.CurrentPlan(c)).Stop();
            Console.WriteLine("stopping");
            return 0;
        }, ct));
        return command;
    }

    private static async Task<int> TellAndWatch(CliContext c, string prompt, string? baseUrl, CancellationToken ct)
    {
        var planId = Cli.CurrentPlan(c);
        IAsyncEnumerable<StreamEvent> events;
        try { events = await c.Client.Streams.TellWatchingAsync(planId, prompt, baseUrl, ct: ct); }
        catch (InvalidOperationException e) { return Cli.Fail(e.Message); } // key or endpoint problem on this machine
        return await WatchAsync(c.Client, planId, ct, events);
    }

    private static async Task<int> WatchAsync(PlandexClient client, Guid planId, CancellationToken ct, IAsyncEnumerable<StreamEvent>? events = null)
    {
        try
        {
            await foreach (var e in events ?? client.Streams.WatchAsync(planId, 0, ct))
            {
                switch (e.Kind)
                {
                    case StreamEventKind.Chunk: Console.Write(e.Text); break;
                    case StreamEventKind.Finished: Console.WriteLine(); return 0;
                    case StreamEventKind.Stopped: Console.WriteLine(); Console.Error.WriteLine("plandex: stream stopped (partial reply kept)"); return 0;
                    case StreamEventKind.Deleted: Console.WriteLine(); return Cli.Fail("the plan was deleted");
                    case StreamEventKind.Error: Console.WriteLine(); return Cli.Fail($"stream failed: {e.Text}");
                }
            }
            var info = await client.Plan(planId).Describe();
            Console.WriteLine($"no stream is running; plan status: {info.Status.ToString().ToLowerInvariant()}{(info.LastError is null ? "" : $" ({info.LastError})")}");
            return info.Status == PlanStatus.Error ? 1 : 0;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Console.WriteLine();
            Console.Error.WriteLine("plandex: detached; the stream goes on. Run `plandex connect` to watch it again.");
            return 130;
        }
    }
}
