using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using Plandex.Client.Context;
using Plandex.GrainInterfaces;

namespace Plandex.Cli.Commands;

/// <summary>load, ls, rm, update, show: the current plan's context. Ignored files never leave this machine.</summary>
internal static class ContextCommands
{
    public static IEnumerable<Command> Create() => [Load(), Ls(), Rm(), Update(), Show()];

    private static Command Load()
    {
        var paths = new Argument<string[]>("path") { Description = "files or directories to load", Arity = ArgumentArity.OneOrMore };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "load directories recursively" };
        var force = new Option<bool>("--force", "-f") { Description = "load an ignored file if it is named explicitly (never by recursion)" };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "list every skipped path with its reason or deciding rule" };
        var command = new Command("load", "load files into the current plan's context (respects .gitignore and .plandexignore)")
            { paths, recursive, force, verbose };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var planId = Cli.CurrentPlan(c);
            var root = ContextPlanner.ProjectRoot(Environment.CurrentDirectory);
            ContextPlan plan;
            try { plan = ContextPlanner.Plan(root, parse.GetValue(paths)!, parse.GetValue(recursive), parse.GetValue(force)); }
            catch (InvalidOperationException e) { return Cli.Fail(e.Message); }

            var loaded = 0;
            long bytes = 0;
            foreach (var batch in ContextPlanner.Batches(plan.Uploads))
            {
                await c.Client.Plan(planId).LoadContext(batch);
                loaded += batch.Count;
                bytes += batch.Sum(b => (long)Encoding.UTF8.GetByteCount(b.Body));
                if (plan.Uploads.Count > 200) Console.Error.Write($"\rloading {loaded}/{plan.Uploads.Count} files");
            }
            if (plan.Uploads.Count > 200) Console.Error.WriteLine();
            Console.WriteLine($"loaded {loaded} file(s), {bytes / 1024.0:0.#} KB");
            foreach (var group in plan.Skipped.GroupBy(s => s.Reason))
                Console.WriteLine($"skipped {group.Count()} {Describe(group.Key)}{(parse.GetValue(verbose) ? "" : " (--verbose lists them)")}");
            if (parse.GetValue(verbose))
                foreach (var s in plan.Skipped) Console.WriteLine($"  {s.Path}  {Describe(s.Reason)}: {s.Detail}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Ls()
    {
        var command = new Command("ls", "list the current plan's context with sizes and token estimates");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var items = await c.Client.Plan(Cli.CurrentPlan(c)).ContextItems();
            foreach (var i in items) Console.WriteLine($"{i.Path,-48} {i.Size,10} B {i.Tokens,8} tokens");
            Console.WriteLine($"{items.Count} item(s), {items.Sum(i => i.Size)} bytes, about {items.Sum(i => i.Tokens)} tokens");
            return 0;
        }, ct));
        return command;
    }

    private static Command Rm()
    {
        var paths = new Argument<string[]>("path") { Description = "context items to remove (as `plandex ls` shows them)", Arity = ArgumentArity.OneOrMore };
        var command = new Command("rm", "remove items from the current plan's context") { paths };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var removed = await c.Client.Plan(Cli.CurrentPlan(c)).RemoveContext(parse.GetValue(paths)!);
            Console.WriteLine($"removed {removed} item(s)");
            return 0;
        }, ct));
        return command;
    }

    private static Command Update()
    {
        var command = new Command("update", "reload context items whose files changed (still-ignored files are not reloaded)");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var plan = c.Client.Plan(Cli.CurrentPlan(c));
            var root = ContextPlanner.ProjectRoot(Environment.CurrentDirectory);
            var items = await plan.ContextItems();
            var present = items.Where(i => File.Exists(Path.Combine(root, i.Path))).ToList();
            var fresh = ContextPlanner.Plan(root, present.Select(i => Path.Combine(root, i.Path)).ToList(), recursive: false, force: false);
            var byPath = items.ToDictionary(i => i.Path);
            var changed = fresh.Uploads
                .Where(u => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(u.Body))) != byPath[u.Path].Sha256).ToList();
            foreach (var batch in ContextPlanner.Batches(changed)) await plan.LoadContext(batch);
            Console.WriteLine($"updated {changed.Count} of {items.Count} item(s)");
            foreach (var s in fresh.Skipped) Console.WriteLine($"  not reloaded {s.Path}: {Describe(s.Reason)} ({s.Detail})");
            foreach (var gone in items.Except(present)) Console.WriteLine($"  missing on disk: {gone.Path}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Show()
    {
        var path = new Argument<string>("item") { Description = "a context item's path" };
        var command = new Command("show", "print a context item") { path };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            Console.Write(await c.Client.Plan(Cli.CurrentPlan(c)).ShowContext(parse.GetValue(path)!));
            return 0;
        }, ct));
        return command;
    }

    private static string Describe(SkipReason reason) => reason switch
    {
        SkipReason.Ignored => "ignored by .gitignore/.plandexignore",
        SkipReason.Binary => "binary",
        SkipReason.TooLarge => "over the size limit",
        SkipReason.SymlinkOutsideProject => "symlink(s) leading outside the project",
        _ => "unreadable",
    };
}
