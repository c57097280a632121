using System.CommandLine;
using Plandex.Client.Sessions;
using Plandex.GrainInterfaces;

namespace Plandex.Cli.Commands;

/// <summary>
/// invite, users, revoke (remove a member from the current org), set-role, join (an org, with an invite), org
/// (switch), leave.
/// </summary>
internal static class OrgCommands
{
    public static IEnumerable<Command> Create() => [Invite(), Users(), Revoke(), SetRole(), Join(), Org(), Leave()];

    private static Command Invite()
    {
        var email = new Argument<string>("email") { Description = "who to invite" };
        var role = new Option<string>("--role") { Description = "member, admin or owner", DefaultValueFactory = _ => "member" };
        var command = new Command("invite", "invite someone to the current org (owner/admin)") { email, role };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            if (ParseRole(parse.GetValue(role)) is not { } r) return Cli.Fail("--role must be member, admin or owner");
            var invite = await c.Client.Org(c.RequireSession.OrgId).Invite(parse.GetValue(email)!, r);
            Console.WriteLine($"invited {invite.Email} as {RoleName(invite.Role)}; code {invite.Code} (single use, expires {invite.ExpiresAt:u})");
            Console.WriteLine($"they run: plandex sign-up --email {invite.Email} --name NAME --invite {invite.Code}");
            Console.WriteLine($"  or, if they have an account on this server: plandex join {invite.Code}");
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
                Console.WriteLine($"{m.Email,-32} {m.Name,-24} {RoleName(m.Role)}");
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
            if (await MemberAsync(org, target) is not { } member) return Cli.Fail($"{target} is not a member of this org");
            await org.RemoveUser(member.AccountId);
            Console.WriteLine($"removed {member.Email}");
            return 0;
        }, ct));
        return command;
    }

    private static Command SetRole()
    {
        var email = new Argument<string>("email") { Description = "the member whose role changes" };
        var role = new Argument<string>("role") { Description = "member, admin or owner" };
        var command = new Command("set-role", "change a member's role in the current org (owner/admin; owners are made and unmade by owners)") { email, role };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            if (ParseRole(parse.GetValue(role)) is not { } r) return Cli.Fail("role must be member, admin or owner");
            var org = c.Client.Org(c.RequireSession.OrgId);
            var target = parse.GetValue(email)!.Trim();
            if (await MemberAsync(org, target) is not { } member) return Cli.Fail($"{target} is not a member of this org");
            await org.SetRole(member.AccountId, r);
            Console.WriteLine(member.Role == r
                ? $"{member.Email} is already {RoleName(r)}"
                : $"{member.Email} is now {RoleName(r)} (was {RoleName(member.Role)})");
            return 0;
        }, ct));
        return command;
    }

    private static string RoleName(OrgRole role) => role.ToString().ToLowerInvariant();

    private static OrgRole? ParseRole(string? text) =>
        Enum.TryParse<OrgRole>(text, ignoreCase: true, out var r) && Enum.IsDefined(r) ? r : null;

    /// <summary>The current org's member with this email (as <c>users</c> lists it), or null.</summary>
    private static async Task<OrgMember?> MemberAsync(IOrgGrain org, string email) =>
        (await org.Users()).FirstOrDefault(m => string.Equals(m.Email, email, StringComparison.OrdinalIgnoreCase));

    private static Command Join()
    {
        var code = new Argument<string>("code") { Description = "invite code from the org's owner or admin, made for your email" };
        var command = new Command("join", "join an org with an invite (for an existing account) and make it current") { code };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var joined = await c.Client.Account(c.RequireSession.AccountId).JoinOrg(parse.GetValue(code)!);
            SessionFile.Save(c.RequireSession with { OrgId = joined.OrgId, CurrentPlan = null });
            Console.WriteLine($"joined {joined.OrgName} as {RoleName(joined.Role)}; it is now the current org");
            return 0;
        }, ct));
        return command;
    }

    private static Command Org()
    {
        var org = new Argument<string?>("org") { Description = "org name or id (without it: list your orgs)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("org", "make one of your orgs current, or list them") { org };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var session = c.RequireSession;
            var orgs = (await c.Client.Account(session.AccountId).WhoAmI()).Orgs;
            if (parse.GetValue(org) is not { } wanted)
            {
                foreach (var o in orgs)
                    Console.WriteLine($"{(o.OrgId == session.OrgId ? "*" : " ")} {o.OrgName,-32} {o.OrgId}  {RoleName(o.Role)}");
                if (orgs.Count == 0) Console.WriteLine("you belong to no org: an owner or admin can invite you (then `plandex join CODE`)");
                return 0;
            }
            var found = Find(orgs, wanted);
            if (found.OrgId != session.OrgId) SessionFile.Save(session with { OrgId = found.OrgId, CurrentPlan = null });
            Console.WriteLine($"current org: {found.OrgName}");
            return 0;
        }, ct));
        return command;
    }

    private static Command Leave()
    {
        var org = new Argument<string>("org") { Description = "the org to leave, by name or id (as `plandex org` lists it)" };
        var command = new Command("leave", "leave one of your orgs (your plans there stay with the org)") { org };
        command.SetAction((parse, ct) => Cli.RunAsync(parse, signedIn: true, async c =>
        {
            var session = c.RequireSession;
            var orgs = (await c.Client.Account(session.AccountId).WhoAmI()).Orgs;
            var found = Find(orgs, parse.GetValue(org)!);
            await c.Client.Org(found.OrgId).Leave();
            if (found.OrgId == session.OrgId)
            {
                // Leaving the current org: the next one the account belongs to becomes current, if any.
                var next = orgs.FirstOrDefault(o => o.OrgId != found.OrgId);
                SessionFile.Save(session with { OrgId = next?.OrgId ?? Guid.Empty, CurrentPlan = null });
                Console.WriteLine(next is null ? $"left {found.OrgName}; you belong to no org now" : $"left {found.OrgName}; the current org is {next.OrgName}");
            }
            else Console.WriteLine($"left {found.OrgName}");
            return 0;
        }, ct));
        return command;
    }

    /// <summary>One of the account's orgs by name or id; none, or a name shared by several, is a one-line error.</summary>
    private static OrgMembership Find(IReadOnlyList<OrgMembership> orgs, string wanted)
    {
        var found = orgs.Where(o => o.OrgName == wanted || o.OrgId.ToString() == wanted).ToList();
        return found.Count switch
        {
            1 => found[0],
            0 => throw new InvalidRequestException($"you belong to no org named '{wanted}'"),
            _ => throw new InvalidRequestException($"you belong to {found.Count} orgs named '{wanted}': name one by its id"),
        };
    }
}
