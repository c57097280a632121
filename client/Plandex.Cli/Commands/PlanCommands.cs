using System.CommandLine;
using Plandex.Client.Sessions;
using Plandex.GrainInterfaces;

namespace Plandex.Cli.Commands;

/// <summary>new, plans, cd, current, convo, set-model, ps.</summary>
internal static class PlanCommands
{
    public static IEnumerable<Command> Create() => [New(), Plans(), Cd(), Current(), Convo(), SetModel(), Ps(), DeletePlan(), Deletions()];

    private static Command DeletePlan()
    {
        var plan = new Argument<string?>("plan") { Description = "plan name or id (default: the current plan)", Arity = ArgumentArity.ZeroOrOne };
        var yes = new Option<bool>("--yes", "-y") { Description = "do not ask for confirmation (scripts)" };
        var command = new Command("delete-plan", "delete a plan: its conversation, context and state leave the database at once") { plan, yes };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var wanted = parse.GetValue(plan);
            var summaries = await c.Client.Org(c.RequireSession.OrgId).Plans();
            var target = wanted is null
                ? summaries.FirstOrDefault(p => p.PlanId == c.RequireSession.CurrentPlan)
                : summaries.FirstOrDefault(p => p.Name == wanted || p.PlanId.ToString() == wanted);
            if (target is null) return Cli.Fail(wanted is null ? "no current plan" : $"no plan named '{wanted}' in this org");
            if (!parse.GetValue(yes))
            {
                Console.Write($"delete plan '{target.Name}' and everything in it? type its name to confirm: ");
                if (Console.ReadLine()?.Trim() != target.Name) return Cli.Fail("not deleted");
            }
            DeletionReceipt receipt;
            try { receipt = await c.Client.Plan(target.PlanId).Delete(); }
            catch (Exception e) when (Cli.IsUnreadable(e))
            {
                // Its grain cannot activate: the org erases it without it (same rule: owner or org owner/admin).
                receipt = await c.Client.Org(c.RequireSession.OrgId).DeleteUnreadablePlan(target.PlanId);
            }
            if (c.RequireSession.CurrentPlan == target.PlanId) SessionFile.Save(c.RequireSession with { CurrentPlan = null });
            Console.WriteLine($"deleted plan {target.Name}; receipt {receipt.Id}, backups expire by {receipt.PurgeDue:u}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Deletions()
    {
        var command = new Command("deletions", "list deletion receipts of the current org");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var r in await c.Client.Org(c.RequireSession.OrgId).Deletions())
            {
                // Past due and not purged: copies in backups are still readable, so say so rather than look pending.
                var status = r.PurgedAt is { } p ? $"  purged {p:u}" : r.PurgeDue < now ? "  PAST DUE: not purged yet" : "";
                Console.WriteLine($"{r.Id}  {r.Kind} {r.SubjectId}  deleted {r.DeletedAt:u}  purge due {r.PurgeDue:u}{status}");
            }
            return 0;
        }, ct));
        return command;
    }

    private static Command New()
    {
        var name = new Option<string?>("--name") { Description = "plan name (default: a timestamped one)" };
        var command = new Command("new", "create a plan in the current org and make it current") { name };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var plan = await c.Client.Org(c.RequireSession.OrgId).CreatePlan(parse.GetValue(name) ?? $"plan-{DateTime.Now:yyyyMMdd-HHmmss}");
            SessionFile.Save(c.RequireSession with { CurrentPlan = plan.PlanId });
            Console.WriteLine($"created plan {plan.Name} ({plan.PlanId}); it is now current");
            return 0;
        }, ct));
        return command;
    }

    private static Command Plans()
    {
        var command = new Command("plans", "list the current org's plans");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            foreach (var p in await c.Client.Org(c.RequireSession.OrgId).Plans())
                Console.WriteLine($"{(p.PlanId == c.RequireSession.CurrentPlan ? "*" : " ")} {p.Name,-32} {p.PlanId}  {p.CreatedAt:u}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Cd()
    {
        var plan = new Argument<string>("plan") { Description = "plan name or id" };
        var command = new Command("cd", "make a plan current") { plan };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var wanted = parse.GetValue(plan)!;
            var found = (await c.Client.Org(c.RequireSession.OrgId).Plans())
                .FirstOrDefault(p => p.Name == wanted || p.PlanId.ToString() == wanted);
            if (found is null) return Cli.Fail($"no plan named '{wanted}' in this org");
            SessionFile.Save(c.RequireSession with { CurrentPlan = found.PlanId });
            Console.WriteLine($"current plan: {found.Name}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Current()
    {
        var command = new Command("current", "show the current plan");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var info = await c.Client.Plan(Cli.CurrentPlan(c)).Describe();
            Console.WriteLine($"{info.Name} ({info.PlanId})");
            Console.WriteLine($"  status   {info.Status.ToString().ToLowerInvariant()}{(info.LastError is null ? "" : $": {info.LastError}")}");
            Console.WriteLine($"  model    {info.Model.Provider} {info.Model.Model}{(info.Model.BaseUrl is null ? "" : $" at {info.Model.BaseUrl}")}");
            Console.WriteLine($"  messages {info.MessageCount}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Convo()
    {
        var command = new Command("convo", "print the current plan's conversation");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            foreach (var m in await c.Client.Plan(Cli.CurrentPlan(c)).Conversation())
            {
                Console.WriteLine($"## {m.Seq} {m.Role} · {m.At:u} · {m.Tokens} tokens");
                Console.WriteLine(m.Content);
                Console.WriteLine();
            }
            return 0;
        }, ct));
        return command;
    }

    private static Command SetModel()
    {
        var provider = new Argument<string>("provider") { Description = "openai, anthropic, openrouter, deepseek, ollama, vllm or openai-compatible" };
        var model = new Argument<string>("model") { Description = "model name, e.g. gpt-4.1 or claude-sonnet-4-5" };
        var baseUrl = new Option<string?>("--base-url") { Description = "provider base URL (a hint for the org; each user's key goes only to endpoints they trust)" };
        var command = new Command("set-model", "choose the current plan's provider and model") { provider, model, baseUrl };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            await c.Client.Plan(Cli.CurrentPlan(c)).SetModel(new ModelSettings(parse.GetValue(provider)!, parse.GetValue(model)!, parse.GetValue(baseUrl)));
            Console.WriteLine("model set");
            return 0;
        }, ct));
        return command;
    }

    private static Command Ps()
    {
        var command = new Command("ps", "list the org's active streams");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var streams = await c.Client.Org(c.RequireSession.OrgId).ActiveStreams();
            if (streams.Count == 0) Console.WriteLine("no active streams");
            foreach (var s in streams) Console.WriteLine($"{s.PlanName,-32} stream {s.StreamId}  since {s.StartedAt:u}");
            return 0;
        }, ct));
        return command;
    }
}
