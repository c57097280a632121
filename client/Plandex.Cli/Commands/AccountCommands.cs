using System.CommandLine;
using Plandex.Client.Sessions;
using Plandex.GrainInterfaces;

namespace Plandex.Cli.Commands;

/// <summary>sign-up, sign-in, sign-in-code, sign-out, whoami.</summary>
internal static class AccountCommands
{
    public static IEnumerable<Command> Create() => [SignUp(), SignIn(), SignInCode(), SignOut(), WhoAmI(), DeleteAccount()];

    private static Command DeleteAccount()
    {
        var yes = new Option<bool>("--yes") { Description = "do not ask for confirmation (for scripts)" };
        var command = new Command("delete-account",
            "delete your account: every plan you own, your memberships (an org left without an owner goes with its plans), sessions, invites and personal data")
            { yes };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var session = c.RequireSession;
            if (!parse.GetValue(yes))
            {
                Console.Write($"delete the account {session.Email} and everything it owns? type the email to confirm: ");
                if (!string.Equals(Console.ReadLine()?.Trim(), session.Email, StringComparison.OrdinalIgnoreCase)) return Cli.Fail("not deleted");
            }
            var receipts = await c.Client.Account(session.AccountId).DeleteAccount();
            SessionFile.Delete();
            foreach (var r in receipts)
                Console.WriteLine($"receipt {r.Id}: {r.Kind} {r.SubjectId} deleted {r.DeletedAt:u}, backups expire by {r.PurgeDue:u}");
            Console.WriteLine($"deleted account {session.Email} ({receipts.Count(r => r.Kind == "plan")} plans); you are signed out");
            return 0;
        }, ct));
        return command;
    }

    private static Command SignUp()
    {
        var email = new Option<string>("--email") { Description = "your email", Required = true };
        var name = new Option<string>("--name") { Description = "your name", Required = true };
        var invite = new Option<string?>("--invite") { Description = "invite code from an org owner or admin" };
        var bootstrap = new Option<string?>("--bootstrap-secret")
        {
            Description = "the server's bootstrap secret (first owner only; default $PLANDEX_BOOTSTRAP_SECRET)",
        };
        var command = new Command("sign-up", "create an account (with an invite code, the bootstrap secret, or open sign-up)")
            { email, name, invite, bootstrap };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: false, async c =>
        {
            var secret = parse.GetValue(bootstrap) ?? Environment.GetEnvironmentVariable("PLANDEX_BOOTSTRAP_SECRET");
            SessionFile.EnsureWritable();
            var result = await c.Client.SignUpAsync(new SignUpRequest(parse.GetValue(email)!, parse.GetValue(name)!, parse.GetValue(invite), secret));
            Save(c, result);
            Console.WriteLine($"signed up as {result.Email}");
            return 0;
        }, ct));
        return command;
    }

    private static Command SignIn()
    {
        var email = new Option<string>("--email") { Description = "your email", Required = true };
        var code = new Option<string>("--code") { Description = "one-time code from `plandex sign-in-code` on a signed-in device", Required = true };
        var command = new Command("sign-in", "sign in on this device with a one-time code") { email, code };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: false, async c =>
        {
            SessionFile.EnsureWritable();
            var result = await c.Client.SignInWithCodeAsync(parse.GetValue(email)!, parse.GetValue(code)!);
            Save(c, result);
            Console.WriteLine($"signed in as {result.Email}");
            return 0;
        }, ct));
        return command;
    }

    private static Command SignInCode()
    {
        var command = new Command("sign-in-code", "create a one-time code to sign in on another device");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var code = await c.Client.Account(c.RequireSession.AccountId).CreateSignInCode();
            Console.WriteLine($"{code.Code}  (single use, expires {code.ExpiresAt:u})");
            Console.WriteLine($"on the other device: plandex sign-in --email {c.RequireSession.Email} --code {code.Code}");
            return 0;
        }, ct));
        return command;
    }

    private static Command SignOut()
    {
        var all = new Option<bool>("--all") { Description = "revoke every session of this account, on every device" };
        var command = new Command("sign-out", "revoke this device's session (or all sessions) and forget it") { all };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var account = c.Client.Account(c.RequireSession.AccountId);
            if (parse.GetValue(all)) Console.WriteLine($"revoked {await account.RevokeAllSessions()} session(s)");
            else await account.SignOut();
            SessionFile.Delete();
            Console.WriteLine("signed out");
            return 0;
        }, ct));
        return command;
    }

    private static Command WhoAmI()
    {
        var command = new Command("whoami", "show the signed-in account and its orgs");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var me = await c.Client.Account(c.RequireSession.AccountId).WhoAmI();
            Console.WriteLine($"{me.Name} <{me.Email}>  account {me.AccountId}");
            foreach (var org in me.Orgs)
                Console.WriteLine($"  org {org.OrgName} ({org.OrgId}) as {org.Role.ToString().ToLowerInvariant()}{(org.OrgId == c.RequireSession.OrgId ? "  [current]" : "")}");
            return 0;
        }, ct));
        return command;
    }

    private static void Save(CliContext c, SignInResult result) => SessionFile.Save(new StoredSession
    {
        Server = c.Client.Options.Server.ToString(),
        Token = result.Token,
        AccountId = result.AccountId,
        OrgId = result.OrgId,
        Email = result.Email,
    });
}
