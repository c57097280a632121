using Plandex.Client.Streams;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;
using Xunit.Abstractions;
using static Plandex.Tests.KeyHygiene.KeyWorld;

namespace Plandex.Tests.KeyHygiene;

/// <summary>
/// Where a key may go. The plan's base URL is shared with the org, so another member can change it: the victim's
/// client must not follow it with the victim's key. And the server refuses endpoints that lead into its own
/// network (cloud metadata, link-local, its own ports) even when the client asks for them explicitly.
/// </summary>
public sealed class EndpointRedirectTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_member_cannot_redirect_another_members_key_and_the_server_refuses_its_own_network()
    {
        var canary = CanaryScanner.NewCanary();
        var keyHash = ProviderStubServer.HashCredential(canary);
        await using var own = await ProviderStubServer.StartAsync();      // the victim's endpoint
        await using var attacker = await ProviderStubServer.StartAsync(); // where the attacker wants the key
        var ownUrl = own.BaseUrl + "v1";
        var attackerUrl = attacker.BaseUrl + "v1";
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "kh-redirect", new Dictionary<string, string>
        {
            ["Providers:AllowLoopback"] = "true",
            // As if an operator had allowlisted them by mistake: the address checks must refuse them anyway.
            ["Providers:AllowedEndpoints"] = "https://api.openai.com/v1,http://169.254.169.254/v1,http://169.254.10.10/v1",
        });

        await using var anon = await silo.ConnectAsync();
        var victim = await anon.SignUpAsync(new SignUpRequest("victim@example.com", "Victim"));
        await using var victimClient = await silo.ConnectAsync(victim.Token);
        var invite = await victimClient.Org(victim.OrgId).Invite("attacker@example.com", OrgRole.Member);
        var intruder = await anon.SignUpAsync(new SignUpRequest("attacker@example.com", "Attacker", InviteCode: invite.Code));
        Assert.Equal(victim.OrgId, intruder.OrgId);
        await using var attackerClient = await silo.ConnectAsync(intruder.Token);

        var planId = (await victimClient.Org(victim.OrgId).CreatePlan("shared plan")).PlanId;
        var plan = victimClient.Plan(planId);
        var model = StubModel("redirect", "tokens=5");
        await plan.SetModel(new ModelSettings("openai", model, ownUrl));
        // The attacker edits the shared plan's base URL.
        await attackerClient.Plan(planId).SetModel(new ModelSettings("openai", model, attackerUrl));
        Assert.Equal(attackerUrl, (await plan.Describe()).Model.BaseUrl);

        // 1. The victim tells without --base-url: the client will not follow a URL it does not trust.
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            TellAndWatchAsync(victimClient, planId, new Scenario("no-override", "openai", model, StreamEventKind.Finished), null, canary, "hello"));
        output.WriteLine($"client refusal: {refused.Message}");
        Assert.Contains("not an endpoint you trust", refused.Message);
        Assert.Contains(attackerUrl, refused.Message);
        Assert.Equal(0, own.RequestCount);

        // 2. The victim's own endpoint given explicitly (--base-url): the key goes there and only there.
        var run = await TellAndWatchAsync(victimClient, planId, new Scenario("explicit", "openai", model, StreamEventKind.Finished), ownUrl, canary, "hello");
        Assert.Equal(StreamEventKind.Finished, run.Last.Kind);
        Assert.Equal(keyHash, Assert.Single(own.Requests).CredentialSha256);

        // 3. The victim's own endpoint from their environment (PLANDEX_<PROVIDER>_BASE_URL), no --base-url.
        //    "vllm": a provider no other test sets the variable of (this process's environment is shared).
        var variable = ProviderDefaults.EndpointVariable("vllm");
        Assert.Null(Environment.GetEnvironmentVariable(variable));
        Environment.SetEnvironmentVariable(variable, ownUrl);
        try
        {
            var vllmModel = StubModel("redirectvllm", "tokens=5");
            await attackerClient.Plan(planId).SetModel(new ModelSettings("vllm", vllmModel, attackerUrl));
            var refusedToo = await Assert.ThrowsAsync<InvalidOperationException>(() =>
                TellAndWatchAsync(victimClient, planId, new Scenario("env-own", "vllm", vllmModel, StreamEventKind.Finished), null, canary, "hello"));
            Assert.Contains("not an endpoint you trust", refusedToo.Message);
            // Not a blanket refusal: the plan's URL equal to the user's own is followed.
            await attackerClient.Plan(planId).SetModel(new ModelSettings("vllm", vllmModel, ownUrl));
            var ok = await TellAndWatchAsync(victimClient, planId, new Scenario("env-own-ok", "vllm", vllmModel, StreamEventKind.Finished), null, canary, "hello");
            Assert.Equal(StreamEventKind.Finished, ok.Last.Kind);
            Assert.Equal(keyHash, Assert.Single(own.Requests, r => r.Model == vllmModel).CredentialSha256);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
        Console.WriteLine($"[measure] key hygiene redirect: requests that reached the attacker's endpoint: {attacker.RequestCount}");
        Assert.Equal(0, attacker.RequestCount);

        // 4. The server refuses endpoints into its own network, even when the client asks for them explicitly.
        var ownRequests = own.RequestCount;
        var refusals = new (string Url, string Why)[]
        {
            ("https://api.openai.com.evil.example/v1", "allowlist"),
            ("http://169.254.169.254/v1", "cloud metadata"),
            ("http://169.254.10.10/v1", "link-local"),
            ($"http://127.0.0.1:{silo.GatewayPort}/v1", "own port"),
            ($"http://127.0.0.1:{silo.HttpPort}/v1", "own port"),
        };
        await plan.SetModel(new ModelSettings("openai", model, ownUrl));
        Assert.Equal(PlanStatus.Finished, (await plan.Describe()).Status);
        foreach (var (url, why) in refusals)
        {
            var before = (await plan.Describe()).Status;
            var e = await Assert.ThrowsAsync<InvalidRequestException>(() =>
                TellAndWatchAsync(victimClient, planId, new Scenario("refused", "openai", model, StreamEventKind.Error), url, canary, "hello"));
            output.WriteLine($"{url}: {e.Message} (plan status before: {before})");
            Assert.Contains(why, e.Message);
            var info = await plan.Describe();
            Assert.Equal(PlanStatus.Error, info.Status);
            Assert.Equal(e.Message, info.LastError);
        }
        Console.WriteLine($"[measure] key hygiene redirect: server-refused endpoints (not allowlisted, metadata, link-local, own ports): {refusals.Length} of {refusals.Length}");
        Assert.Equal(ownRequests, own.RequestCount);
        Assert.Equal(0, attacker.RequestCount);
    }
}
