using Microsoft.Extensions.Time.Testing;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>Olga and Pia, each with her own org (open sign-up), on one in-process silo and a fresh database.</summary>
internal sealed class TwoAccounts : IAsyncDisposable
{
    public required TestDatabase Db { get; init; }
    public required InProcessSilo Silo { get; init; }
    public required SignInResult Olga { get; init; }
    public required SignInResult Pia { get; init; }
    public required PlandexClient Oc { get; init; }
    public required PlandexClient Pc { get; init; }

    public static async Task<TwoAccounts> StartAsync()
    {
        var db = await TestDatabase.CreateAsync();
        var silo = await InProcessSilo.StartAsync(db, new FakeTimeProvider(DateTimeOffset.UtcNow));
        await using var anonymous = await silo.ConnectAsync();
        var olga = await anonymous.SignUpAsync(new SignUpRequest($"o{Guid.NewGuid():N}@example.com", "Olga"));
        var pia = await anonymous.SignUpAsync(new SignUpRequest($"p{Guid.NewGuid():N}@example.com", "Pia"));
        return new() { Db = db, Silo = silo, Olga = olga, Pia = pia, Oc = await silo.ConnectAsync(olga.Token), Pc = await silo.ConnectAsync(pia.Token) };
    }

    /// <summary>Both accounts, with Pia also a member of Olga's org in the given role.</summary>
    public static async Task<TwoAccounts> PiaInOlgasOrgAsync(OrgRole role = OrgRole.Member)
    {
        var w = await StartAsync();
        await w.Pc.Account(w.Pia.AccountId).JoinOrg((await w.Oc.Org(w.Olga.OrgId).Invite(w.Pia.Email, role)).Code);
        return w;
    }

    /// <summary>PostgreSQL refuses every account's state write, as a full disk or a lost connection would.</summary>
    public Task RefuseAccountWritesAsync() => Db.ExecAsync("""
        CREATE FUNCTION refuse_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.graintypestring = 'account' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse_accounts BEFORE INSERT OR UPDATE ON orleansstorage FOR EACH ROW EXECUTE FUNCTION refuse_accounts();
        """);

    public Task AllowAccountWritesAsync() => Db.ExecAsync("DROP TRIGGER refuse_accounts ON orleansstorage; DROP FUNCTION refuse_accounts();");

    public async ValueTask DisposeAsync()
    {
        await Pc.DisposeAsync();
        await Oc.DisposeAsync();
        await Silo.DisposeAsync();
        await Db.DisposeAsync();
    }
}
