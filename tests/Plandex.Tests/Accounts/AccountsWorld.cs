using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>
/// One real silo on a fresh database with two orgs, shared by the independent cases of a test class:
/// org A: Alice (owner), Dave (admin), Carol (member); org B: Bob (owner).
/// Open sign-up is on; the brute-force limit per target is small (<see cref="MaxFailuresPerTarget"/>).
/// </summary>
public sealed class AccountsWorld : IAsyncLifetime
{
    public const int MaxFailuresPerTarget = 3;

    public TestDatabase Db { get; private set; } = null!;
    public SiloProcess Silo { get; private set; } = null!;
    public SignInResult Alice { get; private set; } = null!;
    public SignInResult Bob { get; private set; } = null!;
    public SignInResult Carol { get; private set; } = null!;
    public SignInResult Dave { get; private set; } = null!;
    public PlandexClient Anonymous { get; private set; } = null!;
    public PlandexClient AliceClient { get; private set; } = null!;
    public PlandexClient BobClient { get; private set; } = null!;
    public PlandexClient CarolClient { get; private set; } = null!;
    public PlandexClient DaveClient { get; private set; } = null!;

    private readonly List<PlandexClient> _extra = [];

    public async Task InitializeAsync()
    {
        Db = await TestDatabase.CreateAsync();
        Silo = await SiloProcess.StartAsync(Db, "accounts", new Dictionary<string, string>
        {
            ["Accounts:OpenSignUp"] = "true",
            ["Accounts:MaxFailuresPerTarget"] = MaxFailuresPerTarget.ToString(),
            ["Accounts:MaxFailuresPerSource"] = "50",
        });
        Anonymous = await Silo.ConnectAsync();
        Alice = await Anonymous.SignUpAsync(new SignUpRequest("alice@example.com", "Alice"));
        Bob = await Anonymous.SignUpAsync(new SignUpRequest("bob@example.com", "Bob"));
        AliceClient = await Silo.ConnectAsync(Alice.Token);
        BobClient = await Silo.ConnectAsync(Bob.Token);
        var orgA = AliceClient.Org(Alice.OrgId);
        var carolInvite = await orgA.Invite("carol@example.com", OrgRole.Member);
        Carol = await Anonymous.SignUpAsync(new SignUpRequest("carol@example.com", "Carol", carolInvite.Code));
        var daveInvite = await orgA.Invite("dave@example.com", OrgRole.Admin);
        Dave = await Anonymous.SignUpAsync(new SignUpRequest("dave@example.com", "Dave", daveInvite.Code));
        CarolClient = await Silo.ConnectAsync(Carol.Token);
        DaveClient = await Silo.ConnectAsync(Dave.Token);
        Assert.Equal(Alice.OrgId, Carol.OrgId);
        Assert.Equal(Alice.OrgId, Dave.OrgId);
        Assert.NotEqual(Alice.OrgId, Bob.OrgId);
    }

    /// <summary>A further client connection (its own source id), disposed with the world.</summary>
    public async Task<PlandexClient> ConnectAsync(string? token = null)
    {
        var c = await Silo.ConnectAsync(token);
        lock (_extra) _extra.Add(c);
        return c;
    }

    /// <summary>A new account with open sign-up (its own org) and a client using its session.</summary>
    public async Task<(SignInResult Account, PlandexClient Client)> NewAccountAsync(string prefix)
    {
        var email = $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)] + "@example.com";
        var account = await Anonymous.SignUpAsync(new SignUpRequest(email, prefix));
        return (account, await ConnectAsync(account.Token));
    }

    public async Task DisposeAsync()
    {
        Console.WriteLine($"[measure] hostile cases: {Refusals.Count}");
        foreach (var c in _extra) await c.DisposeAsync();
        foreach (var c in new[] { Anonymous, AliceClient, BobClient, CarolClient, DaveClient })
            if (c is not null) await c.DisposeAsync();
        if (Silo is not null) await Silo.DisposeAsync();
        if (Db is not null) await Db.DisposeAsync();
    }
}
