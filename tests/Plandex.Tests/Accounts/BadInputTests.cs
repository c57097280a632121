using Plandex.GrainInterfaces;
using Xunit.Abstractions;

namespace Plandex.Tests.Accounts;

/// <summary>Bad input: one clear, one-line error naming what was wrong, and nothing persisted.</summary>
public sealed class BadInputTests(AccountsWorld w, ITestOutputHelper output) : IClassFixture<AccountsWorld>
{
    private async Task<InvalidRequestException> Invalid(Func<Task> call, string expected)
    {
        var e = await Refusals.AssertRefusedAsync<InvalidRequestException>(w.Db, call);
        Assert.Contains(expected, e.Message);
        output.WriteLine($"refused: {e.Message}");
        Console.WriteLine($"[measure] hostile cases: {Refusals.Count}");
        return e;
    }

    public static TheoryData<string?> MalformedEmails() =>
    [
        null, "", "   ", "not-an-email", "@example.com", "bob@", "bob@@example.com", "a@b@example.com", "bob@example",
        "bob@.example.com", "bob@example..com", "bob smith@example.com", "\"bob\"@example.com", "<bob@example.com>",
        "bob@[127.0.0.1]", "bob(comment)@example.com", "bob@example.com\u0000", "b\u00F6b@example.com",
    ];

    [Theory]
    [MemberData(nameof(MalformedEmails))]
    public Task Malformed_email_at_sign_up(string? email) =>
        Invalid(() => w.Anonymous.SignUpAsync(new SignUpRequest(email!, "Someone")), "email");

    [Theory]
    [InlineData(null, "name is required")]
    [InlineData("", "name is required")]
    [InlineData("   ", "name is required")]
    [InlineData("\t\n", "name is required")]
    [InlineData("Bob\u0007", "name contains control characters")]
    [InlineData("Bob\nINFO fake log line", "name contains control characters")]
    [InlineData("101", "name is too long (max 100 characters)")]
    [InlineData("10000", "name is too long (max 100 characters)")]
    public Task Bad_name_at_sign_up(string? name, string expected)
    {
        if (name is "101" or "10000") name = new string('n', int.Parse(name));
        return Invalid(() => w.Anonymous.SignUpAsync(new SignUpRequest($"named-{Guid.NewGuid():N}@example.com", name!)), expected);
    }

    [Theory]
    [InlineData(255)]
    [InlineData(1001)]
    [InlineData(100_000)]
    public Task Overlong_email_at_sign_up(int length) =>
        Invalid(() => w.Anonymous.SignUpAsync(new SignUpRequest(new string('a', length - "@example.com".Length) + "@example.com", "Long")),
            "email is too long (max 254 characters)");

    [Fact]
    public async Task Limits_are_inclusive_a_100_character_name_and_a_254_character_email_are_accepted()
    {
        var email = new string('b', 254 - "@example.com".Length) + "@example.com";
        var name = new string('N', 100);
        var r = await w.Anonymous.SignUpAsync(new SignUpRequest(email, name));
        await using var c = await w.Silo.ConnectAsync(r.Token);
        var me = await c.Account(r.AccountId).WhoAmI();
        Assert.Equal(email, me.Email);
        Assert.Equal(name, me.Name);
    }

    [Theory]
    [InlineData("ABCD-EFGH-JKMN")]
    [InlineData("abcdefghjkmn")]
    [InlineData("not a code at all")]
    [InlineData("'; DROP TABLE plandex_invites; --")]
    public async Task Unknown_invite_code_is_refused(string code)
    {
        var email = $"invitee-{Guid.NewGuid():N}@example.com";
        // An unknown code counts as a failed attempt for the email (brute-force limit): only
        // plandex_auth_failures may change.
        var e = await Refusals.AssertRefusedAsync<AccessDeniedException>(w.Db,
            () => w.Anonymous.SignUpAsync(new SignUpRequest(email, "Invitee", code)), Refusals.FailureCounters);
        Assert.Contains("invite code is unknown", e.Message);
        output.WriteLine($"refused: {e.Message}");
    }

    [Fact]
    public async Task Invite_code_for_another_email_is_refused()
    {
        var invite = await w.AliceClient.Org(w.Alice.OrgId).Invite("intended@example.com", OrgRole.Member);
        var e = await Refusals.AssertRefusedAsync<AccessDeniedException>(w.Db,
            () => w.Anonymous.SignUpAsync(new SignUpRequest("interloper@example.com", "Interloper", invite.Code)), Refusals.FailureCounters);
        Assert.Contains("for another email", e.Message);
        // The invite is still usable by the person it was meant for.
        var ok = await w.Anonymous.SignUpAsync(new SignUpRequest("intended@example.com", "Intended", invite.Code));
        Assert.Equal(w.Alice.OrgId, ok.OrgId);
    }

    [Theory]
    [InlineData("   ", "invite code is required")]
    [InlineData("65", "invite code is too long")]
    public Task Malformed_invite_code_is_refused(string code, string expected)
    {
        if (code == "65") code = new string('A', 65);
        return Invalid(() => w.Anonymous.SignUpAsync(new SignUpRequest($"x-{Guid.NewGuid():N}@example.com", "X", code)), expected);
    }

    [Theory]
    [InlineData("not-an-email", "ABCD-EFGH-JKMN", "email")]
    [InlineData("alice@example.com", "", "sign-in code is required")]
    [InlineData("alice@example.com", "   ", "sign-in code is required")]
    [InlineData("alice@example.com", "65", "sign-in code is too long")]
    public Task Malformed_sign_in_is_refused(string email, string code, string expected)
    {
        if (code == "65") code = new string('A', 65);
        return Invalid(() => w.Anonymous.SignInWithCodeAsync(email, code), expected);
    }

    [Theory]
    [InlineData("not-an-email", OrgRole.Member, "email")]
    [InlineData("", OrgRole.Member, "email is required")]
    [InlineData("255", OrgRole.Member, "email is too long")]
    [InlineData("friend@example.com", (OrgRole)42, "role must be owner, admin or member")]
    [InlineData("friend@example.com", (OrgRole)(-1), "role must be owner, admin or member")]
    [InlineData(" Carol@Example.com ", OrgRole.Member, "carol@example.com is already a member")]
    public Task Bad_invite_is_refused(string email, OrgRole role, string expected)
    {
        if (email == "255") email = new string('a', 255 - "@example.com".Length) + "@example.com";
        return Invalid(() => w.AliceClient.Org(w.Alice.OrgId).Invite(email, role), expected);
    }

    [Fact]
    public Task Removing_someone_who_is_not_a_member_is_refused() =>
        Invalid(() => w.AliceClient.Org(w.Alice.OrgId).RemoveUser(w.Bob.AccountId), "no such member");

    [Fact]
    public Task The_last_owner_cannot_remove_themselves() =>
        Invalid(() => w.BobClient.Org(w.Bob.OrgId).RemoveUser(w.Bob.AccountId), "last owner");
}
