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
        var prompt = new Argument<string?>("prompt")
        {
            Description = "what you want done; without it (or with -) it is read from standard input",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var baseUrl = new Option<string?>("--base-url") { Description = "send your key to this endpoint (default: your own setting or the provider's)" };
        var command = new Command("tell", "send a prompt to the current plan and stream the reply") { prompt, baseUrl };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true,
            c => TellAndWatch(c, parse.GetValue(prompt), parse.GetValue(baseUrl), ct), ct));
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

    private static async Task<int> TellAndWatch(CliContext c, string? prompt, string? baseUrl, CancellationToken ct)
    {
        var planId = Cli.CurrentPlan(c);
        IAsyncEnumerable<StreamEvent> events;
        try
        {
            events = prompt is null or "-"
                ? await TellFromInputAsync(c.Client, planId, baseUrl, ct)
                : await c.Client.Streams.TellWatchingAsync(planId, prompt, baseUrl, ct: ct);
        }
        catch (InvalidOperationException e) { return Cli.Fail(e.Message); } // key or endpoint problem on this machine
        return await WatchAsync(c.Client, planId, ct, events);
    }

    /// <summary>
    /// Reads the prompt from standard input while the tell is prepared (stream reserved, session opened, key sealed),
    /// so only the prompt's own round trip is left once it is in. Whatever goes wrong with the preparation (another
    /// tell took the plan's reservation, the prompt took minutes, no key) is left to the plain tell, which reports it.
    /// </summary>
    private static async Task<IAsyncEnumerable<StreamEvent>> TellFromInputAsync(PlandexClient client, Guid planId, string? baseUrl, CancellationToken ct)
    {
        var preparing = client.Streams.PrepareTellAsync(planId, baseUrl);
        _ = preparing.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        if (!Console.IsInputRedirected) Console.Error.WriteLine("plandex: type your prompt, then Ctrl-D on a line of its own");
        var prompt = (await Console.In.ReadToEndAsync(ct)).TrimEnd('\r', '\n');
        if (string.IsNullOrWhiteSpace(prompt)) throw new InvalidOperationException("the prompt is empty");
        Plandex.Client.Streams.PreparedTell? prepared = null;
        try { prepared = await preparing; }
        catch (Exception e) when (e is not OperationCanceledException) { /* the plain tell below meets it again */ }
        if (prepared is not null)
        {
            try { return await client.Streams.TellWatchingAsync(prepared, prompt, ct); }
            catch (InvalidRequestException) { /* reservation replaced or expired while the prompt was typed */ }
        }
        return await client.Streams.TellWatchingAsync(planId, prompt, baseUrl, ct: ct);
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
