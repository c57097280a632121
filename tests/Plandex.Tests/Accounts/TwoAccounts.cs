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

    public async ValueTask DisposeAsync()
    {
        await Pc.DisposeAsync();
        await Oc.DisposeAsync();
        await Silo.DisposeAsync();
        await Db.DisposeAsync();
    }
}
