using Orleans.Runtime;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Plandex.Tests.Accounts;

/// <summary>
/// Raw Orleans clients against a real silo and PostgreSQL: every hostile call is refused with
/// <see cref="AccessDeniedException"/> (or <see cref="InvalidRequestException"/> for bad input) and changes no table.
/// </summary>
public sealed class HostileClientTests(AccountsWorld w, ITestOutputHelper output) : IClassFixture<AccountsWorld>
{
    private TestDatabase Db => w.Db;

    private Task<AccessDeniedException> Denied(Func<Task> call, params string[] mayChange) =>
        Refusals.AssertRefusedAsync<AccessDeniedException>(Db, call, mayChange);

    private void Ran(string what)
    {
        output.WriteLine($"hostile case: {what}");
        output.WriteLine($"[measure] hostile cases so far: {Refusals.Count}");
        Console.WriteLine($"[measure] hostile cases: {Refusals.Count}");
    }

    // Client-callable calls that need a session, aimed at Alice's own account and org.
    private Func<Task> SessionCall(PlandexClient c, string call) => call switch
    {
        "Account.WhoAmI" => () => c.Account(w.Alice.AccountId).WhoAmI(),
        "Account.CreateSignInCode" => () => c.Account(w.Alice.AccountId).CreateSignInCode(),
        "Account.SignOut" => () => c.Account(w.Alice.AccountId).SignOut(),
        "Account.RevokeAllSessions" => () => c.Account(w.Alice.AccountId).RevokeAllSessions(),
        "Account.JoinOrg" => () => c.Account(w.Alice.AccountId).JoinOrg("ABCD-EFGH-JKMN"),
        "Org.Users" => () => c.Org(w.Alice.OrgId).Users(),
        "Org.Invite" => () => c.Org(w.Alice.OrgId).Invite("mallory@example.com", OrgRole.Owner),
        "Org.RemoveUser" => () => c.Org(w.Alice.OrgId).RemoveUser(w.Carol.AccountId),
        "Org.Leave" => () => c.Org(w.Alice.OrgId).Leave(),
        "Org.SetRole" => () => c.Org(w.Alice.OrgId).SetRole(w.Carol.AccountId, OrgRole.Owner),
        _ => throw new ArgumentOutOfRangeException(nameof(call), call, null),
    };

    public static TheoryData<string> SessionCalls() =>
    [
        "Account.WhoAmI", "Account.CreateSignInCode", "Account.SignOut", "Account.RevokeAllSessions", "Account.JoinOrg",
        "Org.Users", "Org.Invite", "Org.RemoveUser", "Org.Leave", "Org.SetRole",
    ];

    [Theory]
    [MemberData(nameof(SessionCalls))]
    public async Task No_token_is_refused(string call)
    {
        var e = await Denied(SessionCall(w.Anonymous, call));
        Assert.Contains("sign in", e.Message);
        Ran($"no token: {call}");
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("empty")]
    [InlineData("well-formed-but-unknown")]
    [InlineData("sql")]
    [InlineData("overlong")]
    [InlineData("almost-alices")]
    public async Task Garbage_token_is_refused(string kind)
    {
        var token = kind switch
        {
            "garbage" => "garbage",
            "empty" => "",
            "well-formed-but-unknown" => "pdx_" + Convert.ToBase64String(Guid.NewGuid().ToByteArray().Concat(Guid.NewGuid().ToByteArray()).ToArray())
                .TrimEnd('=').Replace('+', '-').Replace('/', '_'),
            "sql" => "' OR '1'='1' --",
            "overlong" => "pdx_" + new string('A', 10_000),
            "almost-alices" => w.Alice.Token[..^1] + (w.Alice.Token[^1] == 'A' ? 'B' : 'A'),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var c = await w.ConnectAsync(token);
        await Denied(() => c.Account(w.Alice.AccountId).WhoAmI());
        await Denied(() => c.Org(w.Alice.OrgId).Users());
        Ran($"garbage token ({kind})");
    }

    /// <summary>For the join case: a real invite to org A for the victim's email, so only the session can be what is refused.</summary>
    private async Task<string> InviteFor(SignInResult victim, string call) =>
        call == "Account.JoinOrg" ? (await w.DaveClient.Org(w.Alice.OrgId).Invite(victim.Email, OrgRole.Member)).Code : "";

    [Theory]
    [MemberData(nameof(SessionCalls))]
    public async Task Expired_token_is_refused(string call)
    {
        var (victim, client) = await w.NewAccountAsync("expired");
        Assert.Equal(victim.AccountId, (await client.Account(victim.AccountId).WhoAmI()).AccountId); // valid before
        var invite = await InviteFor(victim, call);
        await Db.ExecAsync($"UPDATE plandex_sessions SET expires_at = now() - interval '1 minute' WHERE account_id = '{victim.AccountId}'");
        var target = call.StartsWith("Account.") ? "account" : "org";
        Func<Task> attempt = call switch
        {
            "Account.WhoAmI" => () => client.Account(victim.AccountId).WhoAmI(),
            "Account.CreateSignInCode" => () => client.Account(victim.AccountId).CreateSignInCode(),
            "Account.SignOut" => () => client.Account(victim.AccountId).SignOut(),
            "Account.RevokeAllSessions" => () => client.Account(victim.AccountId).RevokeAllSessions(),
            "Account.JoinOrg" => () => client.Account(victim.AccountId).JoinOrg(invite),
            "Org.Users" => () => client.Org(victim.OrgId).Users(),
            "Org.Invite" => () => client.Org(victim.OrgId).Invite("friend@example.com", OrgRole.Member),
            "Org.RemoveUser" => () => client.Org(victim.OrgId).RemoveUser(victim.AccountId),
            "Org.Leave" => () => client.Org(victim.OrgId).Leave(),
            "Org.SetRole" => () => client.Org(victim.OrgId).SetRole(victim.AccountId, OrgRole.Admin),
            _ => throw new ArgumentOutOfRangeException(nameof(call)),
        };
        var e = await Denied(attempt);
        Assert.Contains("expired", e.Message);
        Ran($"expired token on own {target}: {call}");
    }

    [Theory]
    [MemberData(nameof(SessionCalls))]
    public async Task Revoked_token_after_sign_out_is_refused(string call)
    {
        var (victim, client) = await w.NewAccountAsync("leaver");
        var account = client.Account(victim.AccountId);
        Assert.Equal(victim.AccountId, (await account.WhoAmI()).AccountId);
        var invite = await InviteFor(victim, call);
        await account.SignOut();
        Func<Task> attempt = call switch
        {
            "Account.WhoAmI" => () => account.WhoAmI(),
            "Account.CreateSignInCode" => () => account.CreateSignInCode(),
            "Account.SignOut" => () => account.SignOut(),
            "Account.RevokeAllSessions" => () => account.RevokeAllSessions(),
            "Account.JoinOrg" => () => account.JoinOrg(invite),
            "Org.Users" => () => client.Org(victim.OrgId).Users(),
            "Org.Invite" => () => client.Org(victim.OrgId).Invite("friend@example.com", OrgRole.Member),
            "Org.RemoveUser" => () => client.Org(victim.OrgId).RemoveUser(victim.AccountId),
            "Org.Leave" => () => client.Org(victim.OrgId).Leave(),
            "Org.SetRole" => () => client.Org(victim.OrgId).SetRole(victim.AccountId, OrgRole.Admin),
            _ => throw new ArgumentOutOfRangeException(nameof(call)),
        };
        var e = await Denied(attempt);
        Assert.Contains("revoked", e.Message);
        Ran($"revoked token: {call}");
    }

    [Fact]
    public async Task Sessions_revoked_by_revoke_all_are_refused_on_every_device()
    {
        var (victim, laptop) = await w.NewAccountAsync("revokeall");
        var code = await laptop.Account(victim.AccountId).CreateSignInCode();
        var second = await w.Anonymous.SignInWithCodeAsync(victim.Email, code.Code);
        var desktop = await w.ConnectAsync(second.Token);
        Assert.Equal(victim.AccountId, (await desktop.Account(victim.AccountId).WhoAmI()).AccountId);
        Assert.Equal(2, await laptop.Account(victim.AccountId).RevokeAllSessions());
        await Denied(() => desktop.Account(victim.AccountId).WhoAmI());
        await Denied(() => laptop.Account(victim.AccountId).WhoAmI());
        Ran("sessions revoked by RevokeAllSessions");
    }

    [Theory]
    [InlineData("Users")]
    [InlineData("Invite")]
    [InlineData("InviteOwner")]
    [InlineData("RemoveUser.owner")]
    [InlineData("RemoveUser.member")]
    [InlineData("RemoveUser.self-into-nothing")]
    [InlineData("SetRole.self-owner")]
    [InlineData("SetRole.demote-owner")]
    public async Task Another_orgs_valid_token_is_refused_on_this_org(string call)
    {
        var orgA = w.BobClient.Org(w.Alice.OrgId); // Bob owns org B, not A
        var membersBefore = await w.AliceClient.Org(w.Alice.OrgId).Users();
        Func<Task> attempt = call switch
        {
            "Users" => () => orgA.Users(),
            "Invite" => () => orgA.Invite("mallory@example.com", OrgRole.Member),
            "InviteOwner" => () => orgA.Invite("bob@example.com", OrgRole.Owner),
            "RemoveUser.owner" => () => orgA.RemoveUser(w.Alice.AccountId),
            "RemoveUser.member" => () => orgA.RemoveUser(w.Carol.AccountId),
            "RemoveUser.self-into-nothing" => () => orgA.RemoveUser(w.Bob.AccountId),
            "SetRole.self-owner" => () => orgA.SetRole(w.Bob.AccountId, OrgRole.Owner),
            "SetRole.demote-owner" => () => orgA.SetRole(w.Alice.AccountId, OrgRole.Member),
            _ => throw new ArgumentOutOfRangeException(nameof(call)),
        };
        var e = await Denied(attempt);
        Assert.Contains("not a member", e.Message);
        Assert.Equal(membersBefore, await w.AliceClient.Org(w.Alice.OrgId).Users());
        Ran($"org B token on org A: {call}");
    }

    [Theory]
    [InlineData("WhoAmI")]
    [InlineData("CreateSignInCode")]
    [InlineData("RevokeAllSessions")]
    [InlineData("SignOut")]
    [InlineData("JoinOrg")]
    [InlineData("WhoAmI.unknown-account")]
    [InlineData("CreateSignInCode.unknown-account")]
    public async Task Forged_account_key_is_refused(string call)
    {
        var bob = w.AliceClient.Account(w.Bob.AccountId); // Alice's valid session, Bob's grain key
        var bobsInvite = call == "JoinOrg" ? (await w.DaveClient.Org(w.Alice.OrgId).Invite(w.Bob.Email, OrgRole.Member)).Code : "";
        Func<Task> attempt = call switch
        {
            "WhoAmI" => () => bob.WhoAmI(),
            "CreateSignInCode" => () => bob.CreateSignInCode(),
            "RevokeAllSessions" => () => bob.RevokeAllSessions(),
            "SignOut" => () => bob.SignOut(),
            // An invite made for Bob, accepted with Alice's session on Bob's account: refused, the invite unspent.
            "JoinOrg" => () => bob.JoinOrg(bobsInvite),
            "WhoAmI.unknown-account" => () => w.AliceClient.Account(Guid.NewGuid()).WhoAmI(),
            "CreateSignInCode.unknown-account" => () => w.AliceClient.Account(Guid.NewGuid()).CreateSignInCode(),
            _ => throw new ArgumentOutOfRangeException(nameof(call)),
        };
        await Denied(attempt);
        Assert.Equal(w.Bob.AccountId, (await w.BobClient.Account(w.Bob.AccountId).WhoAmI()).AccountId); // Bob's session still live
        Ran($"forged account key: {call}");
    }

    public static TheoryData<string> InternalCalls() =>
    [
        "Account.Create", "Account.AddMembership", "Account.RemoveMembership", "Account.Describe", "Account.Describe.other",
        "Org.Create", "Org.AddMember", "Org.RoleOf", "Org.Name",
        "Retention.EpochTicks", "Retention.EnsureScheduled",
    ];

    [Theory]
    [MemberData(nameof(InternalCalls))]
    public async Task Internal_grain_methods_are_refused_even_with_a_valid_token(string call)
    {
        var c = w.AliceClient;
        var me = w.Alice;
        Func<Task> attempt = call switch
        {
            "Account.Create" => () => c.Account(Guid.NewGuid()).Create("mallory@example.com", "Mallory", w.Bob.OrgId, OrgRole.Owner),
            // Promote myself into someone else's org.
            "Account.AddMembership" => () => c.Account(me.AccountId).AddMembership(w.Bob.OrgId, OrgRole.Owner),
            "Account.RemoveMembership" => () => c.Account(w.Bob.AccountId).RemoveMembership(w.Bob.OrgId),
            "Account.Describe" => () => c.Account(me.AccountId).Describe(),
            "Account.Describe.other" => () => c.Account(w.Bob.AccountId).Describe(),
            "Org.Create" => () => c.Org(Guid.NewGuid()).Create("evil", new OrgMember(me.AccountId, me.Email, "Alice", OrgRole.Owner)),
            "Org.AddMember" => () => c.Org(w.Bob.OrgId).AddMember(new OrgMember(me.AccountId, me.Email, "Alice", OrgRole.Owner)),
            "Org.RoleOf" => () => c.Org(w.Bob.OrgId).RoleOf(w.Bob.AccountId),
            "Org.Name" => () => c.Org(w.Bob.OrgId).Name(),
            "Retention.EpochTicks" => () => c.Grains.GetGrain<IRetentionGrain>(0).EpochTicks(),
            "Retention.EnsureScheduled" => () => c.Grains.GetGrain<IRetentionGrain>(0).EnsureScheduled(),
            _ => throw new ArgumentOutOfRangeException(nameof(call)),
        };
        var e = await Denied(attempt);
        Assert.Contains("not available to clients", e.Message);
        // Org B still has only Bob.
        Assert.Equal([w.Bob.AccountId], (await w.BobClient.Org(w.Bob.OrgId).Users()).Select(m => m.AccountId));
        Ran($"internal method with valid token: {call}");
    }

    [Theory]
    [InlineData("GetHosts", false)]
    [InlineData("GetHosts", true)]
    [InlineData("GetDetailedHosts", false)]
    [InlineData("GetDetailedHosts", true)]
    [InlineData("GetTotalActivationCount", true)]
    [InlineData("ForceGarbageCollection", true)]
    public async Task Orleans_management_grain_is_refused(string call, bool withToken)
    {
        var c = withToken ? w.AliceClient : w.Anonymous;
        var mgmt = c.Grains.GetGrain<IManagementGrain>(0);
        Func<Task> attempt = call switch
        {
            "GetHosts" => () => mgmt.GetHosts(),
            "GetDetailedHosts" => () => mgmt.GetDetailedHosts(),
            "GetTotalActivationCount" => () => mgmt.GetTotalActivationCount(),
            "ForceGarbageCollection" => () => mgmt.ForceGarbageCollection(null!),
            _ => throw new ArgumentOutOfRangeException(nameof(call)),
        };
        await Denied(attempt);
        Ran($"IManagementGrain.{call} ({(withToken ? "valid token" : "no token")})");
    }

    [Fact]
    public async Task Cluster_status_is_the_anonymous_alternative_to_the_management_grain()
    {
        // Sanity check that the refusals above are about authorization, not a broken connection.
        var status = await w.Anonymous.GetClusterStatusAsync();
        Assert.Single(status.Silos);
    }

    [Fact]
    public async Task Reusing_a_sign_in_code_is_refused()
    {
        var (victim, client) = await w.NewAccountAsync("reuse");
        var code = await client.Account(victim.AccountId).CreateSignInCode();
        var first = await w.Anonymous.SignInWithCodeAsync(victim.Email, code.Code);
        Assert.Equal(victim.AccountId, first.AccountId);
        var thief = await w.ConnectAsync();
        // A failed code attempt is counted (brute-force limit): plandex_auth_failures legitimately changes.
        var e = await Denied(() => thief.SignInWithCodeAsync(victim.Email, code.Code), Refusals.FailureCounters);
        Assert.Contains("unknown, used or expired", e.Message);
        // Same code, other spelling (lower case, no dashes) is the same code: still used.
        await Denied(() => thief.SignInWithCodeAsync(victim.Email, code.Code.Replace("-", "").ToLowerInvariant()), Refusals.FailureCounters);
        // The code of one account does not sign in another.
        var other = await client.Account(victim.AccountId).CreateSignInCode();
        await Denied(() => thief.SignInWithCodeAsync(w.Alice.Email, other.Code), Refusals.FailureCounters);
        Ran("reused sign-in code");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Racing_two_uses_of_one_invite_code_admits_exactly_one(int round)
    {
        var email = $"racer{round}@example.com";
        var invite = await w.AliceClient.Org(w.Alice.OrgId).Invite(email, OrgRole.Member);
        var c1 = await w.ConnectAsync();
        var c2 = await w.ConnectAsync();
        var accountsBefore = await Db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index");
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task<object> Attempt(PlandexClient c, string name)
        {
            await go.Task;
            try { return await c.SignUpAsync(new SignUpRequest(email, name, invite.Code)); }
            catch (Exception e) { return e; }
        }
        var a = Attempt(c1, "Racer One");
        var b = Attempt(c2, "Racer Two");
        go.SetResult();
        var outcomes = await Task.WhenAll(a, b);
        var winners = outcomes.OfType<SignInResult>().ToList();
        var losers = outcomes.OfType<Exception>().ToList();
        Assert.True(winners.Count == 1, $"expected exactly one winner, got: {string.Join("; ", outcomes.Select(o => o.ToString()))}");
        var loser = Assert.Single(losers);
        Assert.IsType<AccessDeniedException>(loser);
        Assert.Contains("invite code is unknown, used", loser.Message);
        Assert.Equal(accountsBefore + 1, await Db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index"));
        var members = await w.AliceClient.Org(w.Alice.OrgId).Users();
        Assert.Single(members, m => m.Email == email);
        Assert.Equal(winners[0].AccountId, members.Single(m => m.Email == email).AccountId);
        // And the used invite stays used.
        var late = await w.ConnectAsync();
        await Denied(() => late.SignUpAsync(new SignUpRequest(email, "Racer Three", invite.Code)), Refusals.FailureCounters);
        output.WriteLine($"round {round}: winner {winners[0].AccountId}, loser: {loser.Message}");
        Ran($"invite race round {round}");
    }

    public static TheoryData<string> EmailTricks() =>
    [
        " Bob@Example.COM ",
        "BOB@EXAMPLE.COM",
        "bob@EXAMPLE.com",
        "\tbob@example.com\n",
        "bob@example.com\u00A0",               // no-break space
        "\uFF42\uFF4F\uFF42@example.com",      // fullwidth ｂｏｂ
        "bob\uFF20example.com",                // fullwidth at sign
        "\uFF22\uFF2F\uFF22@\uFF25XAMPLE.COM", // fullwidth upper case
        "b\u043Eb@example.com",                // Cyrillic о
        "bob@ex\u0430mple.com",                // Cyrillic а
        "b\u200Bob@example.com",               // zero-width space
        "bob@example.com.",                    // trailing dot
        "bob@example.com.\u00A0",
        "bo\u0301b@example.com",               // combining accent
    ];

    [Theory]
    [MemberData(nameof(EmailTricks))]
    public async Task Email_spelling_tricks_cannot_create_a_second_account(string email)
    {
        var e = await Refusals.AssertRefusedAsync<InvalidRequestException>(Db,
            () => w.Anonymous.SignUpAsync(new SignUpRequest(email, "Bob Again")));
        Assert.Contains("email", e.Message);
        Ran($"email trick at sign-up: {Printable(email)}");
    }

    [Fact]
    public async Task Member_cannot_invite_or_remove_users()
    {
        var orgA = w.CarolClient.Org(w.Alice.OrgId);
        Assert.Contains(await orgA.Users(), m => m.AccountId == w.Dave.AccountId); // a member may list
        var e = await Denied(() => orgA.Invite("friend@example.com", OrgRole.Member));
        Assert.Contains("admin role", e.Message);
        await Denied(() => orgA.Invite("friend@example.com", OrgRole.Owner));
        await Denied(() => orgA.RemoveUser(w.Dave.AccountId));
        await Denied(() => orgA.RemoveUser(w.Alice.AccountId));
        await Denied(() => orgA.SetRole(w.Carol.AccountId, OrgRole.Admin));
        await Denied(() => orgA.SetRole(w.Dave.AccountId, OrgRole.Member));
        Ran("member inviting/removing/changing roles");
    }

    [Fact]
    public async Task Admin_cannot_remove_the_owner_or_invite_an_owner()
    {
        var orgA = w.DaveClient.Org(w.Alice.OrgId);
        var e = await Denied(() => orgA.RemoveUser(w.Alice.AccountId));
        Assert.Contains("only an owner", e.Message);
        await Denied(() => orgA.Invite("newboss@example.com", OrgRole.Owner));
        e = await Denied(() => orgA.SetRole(w.Dave.AccountId, OrgRole.Owner));
        Assert.Contains("only an owner", e.Message);
        await Denied(() => orgA.SetRole(w.Alice.AccountId, OrgRole.Admin));
        Assert.Contains((await orgA.Users()), m => m.AccountId == w.Alice.AccountId && m.Role == OrgRole.Owner);
        Ran("admin removing owner");
    }

    [Fact]
    public async Task A_removed_members_session_no_longer_reaches_the_org()
    {
        var (boss, bossClient) = await w.NewAccountAsync("boss");
        var org = bossClient.Org(boss.OrgId);
        var invite = await org.Invite("temp-" + boss.Email, OrgRole.Admin);
        var temp = await w.Anonymous.SignUpAsync(new SignUpRequest(invite.Email, "Temp", invite.Code));
        var tempClient = await w.ConnectAsync(temp.Token);
        Assert.Equal(2, (await tempClient.Org(boss.OrgId).Users()).Count);
        await org.RemoveUser(temp.AccountId);
        Assert.Empty((await tempClient.Account(temp.AccountId).WhoAmI()).Orgs);
        var e = await Denied(() => tempClient.Org(boss.OrgId).Users());
        Assert.Contains("not a member", e.Message);
        await Denied(() => tempClient.Org(boss.OrgId).Invite("comeback@example.com", OrgRole.Admin));
        await Denied(() => tempClient.Org(boss.OrgId).RemoveUser(boss.AccountId));
        await Denied(() => tempClient.Org(boss.OrgId).SetRole(temp.AccountId, OrgRole.Owner));
        Ran("removed member acting on the org");
    }

    [Fact]
    public async Task An_existing_account_cannot_use_an_invite_to_sign_up_again_and_the_invite_stays_unused()
    {
        // Bob already has an account; Alice invites his address (spelled differently) into org A.
        var invite = await w.AliceClient.Org(w.Alice.OrgId).Invite(" BOB@example.com", OrgRole.Admin);
        Assert.Equal("bob@example.com", invite.Email);
        var e = await Refusals.AssertRefusedAsync<InvalidRequestException>(Db,
            () => w.Anonymous.SignUpAsync(new SignUpRequest("Bob@Example.com", "Bob Twice", invite.Code)));
        Assert.Equal("an account with this email already exists: sign in and accept the invite with `plandex join CODE`", e.Message);
        // The snapshot above already proves the invite row is as before; say it explicitly too.
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(invite.Code.Replace("-", "").ToUpperInvariant())));
        Assert.True(await Db.ScalarAsync<bool>($"SELECT used_at IS NULL FROM plandex_invites WHERE code_hash = '\\x{hash}'::bytea"));
        Ran("existing account re-signing up with an invite");
    }

    [Fact]
    public async Task Brute_force_locks_sign_in_codes_for_the_account_even_the_correct_one()
    {
        var (victim, client) = await w.NewAccountAsync("brute");
        var code = await client.Account(victim.AccountId).CreateSignInCode();
        var attacker = await w.ConnectAsync();
        for (var i = 0; i < AccountsWorld.MaxFailuresPerTarget; i++)
        {
            var failuresBefore = await FailureCount();
            // Each wrong guess is counted: only plandex_auth_failures may change.
            var wrong = await Denied(() => attacker.SignInWithCodeAsync(victim.Email, WrongCode(code.Code, i)), Refusals.FailureCounters);
            Assert.Contains("unknown, used or expired", wrong.Message);
            Assert.True(await FailureCount() > failuresBefore, "a failed code attempt was not counted");
        }
        // Now even the correct code is refused, from a fresh connection too (the limit is per account, not per
        // connection), and nothing changes at all: the code stays unused, nothing more is counted.
        var honest = await w.ConnectAsync();
        var e = await Denied(() => honest.SignInWithCodeAsync(victim.Email, code.Code));
        Assert.Contains("too many failed attempts", e.Message);
        await Denied(() => attacker.SignInWithCodeAsync(victim.Email, code.Code));
        Assert.Equal(0L, await Db.ScalarAsync<long>(
            $"SELECT count(*) FROM plandex_signin_codes WHERE account_id = '{victim.AccountId}' AND used_at IS NOT NULL"));
        // Other accounts are not locked.
        var aliceCode = await w.AliceClient.Account(w.Alice.AccountId).CreateSignInCode();
        var aliceAgain = await honest.SignInWithCodeAsync(w.Alice.Email, aliceCode.Code);
        Assert.Equal(w.Alice.AccountId, aliceAgain.AccountId);
        Ran("brute force on sign-in codes");
    }

    [Fact]
    public async Task Brute_force_locks_invite_codes_for_the_invited_email_even_the_correct_one()
    {
        var invite = await w.AliceClient.Org(w.Alice.OrgId).Invite("guessed@example.com", OrgRole.Member);
        var attacker = await w.ConnectAsync();
        for (var i = 0; i < AccountsWorld.MaxFailuresPerTarget; i++)
            await Denied(() => attacker.SignUpAsync(new SignUpRequest("guessed@example.com", "Guesser", WrongCode(invite.Code, i))),
                Refusals.FailureCounters);
        var honest = await w.ConnectAsync();
        var e = await Denied(() => honest.SignUpAsync(new SignUpRequest("guessed@example.com", "Guessed", invite.Code)));
        Assert.Contains("too many failed attempts", e.Message);
        Ran("brute force on invite codes");
    }

    private Task<long> FailureCount() => Db.ScalarAsync<long>("SELECT coalesce(sum(failures), 0) FROM plandex_auth_failures");

    private static string WrongCode(string right, int i)
    {
        const string alphabet = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
        var chars = right.ToCharArray();
        var pos = i % chars.Length == 4 ? 0 : i % chars.Length;
        chars[pos] = alphabet[(alphabet.IndexOf(chars[pos]) + 1 + i) % alphabet.Length];
        return new string(chars);
    }

    internal static string Printable(string s) =>
        string.Concat(s.Select(ch => ch is >= ' ' and <= '~' ? ch.ToString() : $"\\u{(int)ch:X4}"));
}
