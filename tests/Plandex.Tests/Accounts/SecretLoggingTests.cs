using System.Text.RegularExpressions;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Plandex.Tests.Accounts;

/// <summary>With everything logged at Trace, no session token, sign-in code or invite code reaches the silo's log.</summary>
public sealed class SecretLoggingTests(ITestOutputHelper output)
{
    private const string BootstrapSecret = "trace-bootstrap-secret-0123456789";

    [Fact]
    public async Task Trace_logging_of_a_hostile_case_prints_no_token_and_no_code()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "trace", new Dictionary<string, string>
        {
            ["Logging:LogLevel:Default"] = "Trace",
            ["Logging:LogLevel:Orleans"] = "Trace",
            ["Logging:LogLevel:Microsoft"] = "Trace",
            ["Accounts:OpenSignUp"] = "false",
            ["Accounts:BootstrapSecret"] = BootstrapSecret,
        });
        var secrets = new List<string>();
        await using var anon = await silo.ConnectAsync();
        var owner = await anon.SignUpAsync(new SignUpRequest("owner@example.com", "Owner", BootstrapSecret: BootstrapSecret));
        secrets.Add(owner.Token);
        await using var ownerClient = await silo.ConnectAsync(owner.Token);
        var invite = await ownerClient.Org(owner.OrgId).Invite("member@example.com", OrgRole.Member);
        secrets.Add(invite.Code);
        var member = await anon.SignUpAsync(new SignUpRequest("member@example.com", "Member", invite.Code));
        secrets.Add(member.Token);
        var code = await ownerClient.Account(owner.AccountId).CreateSignInCode();
        secrets.Add(code.Code);
        var second = await anon.SignInWithCodeAsync(owner.Email, code.Code);
        secrets.Add(second.Token);

        // The hostile case: the used code again, with a (valid) member token riding along on a forged key.
        await using var memberClient = await silo.ConnectAsync(member.Token);
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db,
            () => memberClient.SignInWithCodeAsync(owner.Email, code.Code), Refusals.FailureCounters);
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => memberClient.Account(owner.AccountId).WhoAmI());
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => memberClient.Org(owner.OrgId).Invite("x@example.com", OrgRole.Owner));
        // And two refused by the authorization filter itself: an internal method, and a garbage token.
        await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => memberClient.Grains.GetGrain<IRetentionGrain>(0).EpochTicks());
        await using (var forged = await silo.ConnectAsync(owner.Token[..^2] + "xx"))
            await Refusals.AssertRefusedAsync<AccessDeniedException>(db, () => forged.Account(owner.AccountId).WhoAmI());
        Console.WriteLine($"[measure] hostile cases: {Refusals.Count}");

        await Task.Delay(1000); // let the last lines through the console logger
        var lines = silo.Lines;
        Assert.Contains(lines, l => l.Contains(" trce ")); // Trace is really on (Logging:LogLevel:* mapped to PLANDEX_Logging__LogLevel__*)
        Assert.Contains(lines, l => l.Contains(" trce Orleans"));
        Assert.Contains(lines, l => l.Contains("denied client call")); // the refusals were logged, without their secrets
        output.WriteLine($"{lines.Count} log lines at Trace");
        if (Environment.GetEnvironmentVariable("PLANDEX_TEST_DUMP_LOG") is { Length: > 0 } dump) File.WriteAllLines(dump, lines);

        var forms = secrets.SelectMany(Forms).Append(BootstrapSecret).Distinct().ToList();
        var leaks = lines.Where(l => forms.Any(f => l.Contains(f, StringComparison.OrdinalIgnoreCase))).ToList();
        Assert.True(leaks.Count == 0, "secrets in the silo log:\n" + string.Join('\n', leaks.Take(10)));
        // Redaction is the last line of defence, not the mechanism: no token should even be attempted.
        var redacted = lines.Where(l => l.Contains("[redacted]")).ToList();
        Assert.True(redacted.Count == 0, "a secret-shaped value reached a log line (redacted):\n" + string.Join('\n', redacted.Take(10)));
    }

    // A token with and without its prefix; a code with and without its dashes.
    private static IEnumerable<string> Forms(string secret)
    {
        yield return secret;
        if (secret.StartsWith("pdx_")) yield return secret[4..];
        var bare = Regex.Replace(secret, "[^A-Za-z0-9]", "");
        if (bare.Length >= 12) yield return bare;
    }
}
