using System.CommandLine;
using Plandex.GrainInterfaces;

namespace Plandex.Cli.Commands;

/// <summary>invite, users, revoke (remove a member from the current org).</summary>
internal static class OrgCommands
{
    public static IEnumerable<Command> Create() => [Invite(), Users(), Revoke()];

    private static Command Invite()
    {
        var email = new Argument<string>("email") { Description = "who to invite" };
        var role = new Option<string>("--role") { Description = "member, admin or owner", DefaultValueFactory = _ => "member" };
        var command = new Command("invite", "invite someone to the current org (owner/admin)") { email, role };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            if (!Enum.TryParse<OrgRole>(parse.GetValue(role), ignoreCase: true, out var r) || !Enum.IsDefined(r))
                return Cli.Fail("--role must be member, admin or owner");
            var invite = await c.Client.Org(c.RequireSession.OrgId).Invite(parse.GetValue(email)!, r);
            Console.WriteLine($"invited {invite.Email} as {invite.Role.ToString().ToLowerInvariant()}; code {invite.Code} (single use, expires {invite.ExpiresAt:u})");
            Console.WriteLine($"they run: plandex sign-up --email {invite.Email} --name NAME --invite {invite.Code}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Users()
    {
        var command = new Command("users", "list the current org's members");
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            foreach (var m in await c.Client.Org(c.RequireSession.OrgId).Users())
                Console.WriteLine($"{m.Email,-32} {m.Name,-24} {m.Role.ToString().ToLowerInvariant()}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Revoke()
    {
        var email = new Argument<string>("email") { Description = "the member to remove" };
        var command = new Command("revoke", "remove a member from the current org (owner/admin)") { email };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var org = c.Client.Org(c.RequireSession.OrgId);
            var target = parse.GetValue(email)!.Trim();
            var member = (await org.Users()).FirstOrDefault(m => string.Equals(m.Email, target, StringComparison.OrdinalIgnoreCase));
            if (member is null) return Cli.Fail($"{target} is not a member of this org");
            await org.RemoveUser(member.AccountId);
            Console.WriteLine($"removed {member.Email}");
            return 0;
        }, ct));
        return command;
    }
}
