using Microsoft.Extensions.Time.Testing;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.ProviderStub;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Streams;

/// <summary>
/// A provider stub, a database and an in-process silo (loopback providers allowed), with a signed-up user whose
/// plan is set to a stub model: the setup of stream tests that only need grain logic.
/// </summary>
internal sealed class InProcessPlan : IAsyncDisposable
{
    private readonly ProviderStubServer _stub;
    private readonly TestDatabase _db;
    private readonly InProcessSilo _silo;

    private InProcessPlan(ProviderStubServer stub, TestDatabase db, InProcessSilo silo, FakeTimeProvider time, PlandexClient client, Guid planId)
    {
        (_stub, _db, _silo, Time, Client, PlanId) = (stub, db, silo, time, client, planId);
    }

    /// <summary>The grains' clock (Orleans' own timers run on real time).</summary>
    public FakeTimeProvider Time { get; }

    public ProviderStubServer Stub => _stub;
    public IServiceProvider SiloServices => _silo.Services;
    public IReadOnlyList<string> SiloLines => _silo.Lines;
    public PlandexClient Client { get; }
    public Guid PlanId { get; }
    public string Endpoint => _stub.BaseUrl.ToString().TrimEnd('/') + "/v1";

    public static async Task<InProcessPlan> StartAsync(string model, IReadOnlyDictionary<string, string>? settings = null, Action<ISiloBuilder>? extra = null)
    {
        var values = new Dictionary<string, string> { ["Providers:AllowLoopback"] = "true" };
        if (settings is not null) foreach (var (k, v) in settings) values[k] = v;
        var stub = await ProviderStubServer.StartAsync();
        var db = await TestDatabase.CreateAsync();
        InProcessSilo? silo = null;
        try
        {
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            silo = await InProcessSilo.StartAsync(db, time, values, extra: extra);
            await using var anon = await silo.ConnectAsync();
            var me = await anon.SignUpAsync(new SignUpRequest($"u{Guid.NewGuid():N}@example.com", "Streamer"));
            var client = await silo.ConnectAsync(me.Token);
            var planId = (await client.Org(me.OrgId).CreatePlan("plan")).PlanId;
            await client.Plan(planId).SetModel(new ModelSettings("openai", model));
            return new InProcessPlan(stub, db, silo, time, client, planId);
        }
        catch
        {
            if (silo is not null) await silo.DisposeAsync();
            await db.DisposeAsync();
            await stub.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _silo.DisposeAsync();
        await _db.DisposeAsync();
        await _stub.DisposeAsync();
    }
}
