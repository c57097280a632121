using System.Reflection;
using Orleans.Runtime;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>
/// Orleans' gateway forwards whatever sender a client's message names. A modified client that names a grain as the
/// sender of its calls (and even adds a made-up cluster marker) is still refused internal methods: here, making itself
/// an owner of someone else's org. Against the filter that trusted a non-client sender, the first case made Mallory
/// an owner.
/// </summary>
public sealed class SpoofedSenderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_claiming_to_be_a_grain_is_still_a_client(bool forgedMarker)
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "spoof");
        await using var anonymous = await silo.ConnectAsync();
        var victim = await anonymous.SignUpAsync(new SignUpRequest("victim@example.com", "Victim"));
        var mallory = await anonymous.SignUpAsync(new SignUpRequest("mallory@example.com", "Mallory"));
        await using var mc = await silo.ConnectAsync(mallory.Token);
        await Assert.ThrowsAsync<AccessDeniedException>(() => mc.Org(victim.OrgId).Users()); // control: not a member

        // A modified client: every message it sends names a plan grain, not itself, as its sender.
        using (Spoof(mc.Grains, GrainId.Create("plan", Guid.NewGuid().ToString("N"))))
        {
            if (forgedMarker) RequestContext.Set("plx-cluster", Convert.ToBase64String(new byte[32]));
            var call = mc.Org(victim.OrgId).AddMember(new OrgMember(mallory.AccountId, "mallory@example.com", "Mallory", OrgRole.Owner));
            await Task.WhenAny(call, Task.Delay(3000));
            RequestContext.Clear();
        }
        var after = await Assert.ThrowsAsync<AccessDeniedException>(() => mc.Org(victim.OrgId).Users());
        Assert.Contains("not a member", after.Message);
        await using var vc = await silo.ConnectAsync(victim.Token);
        Assert.Equal([victim.AccountId], (await vc.Org(victim.OrgId).Users()).Select(u => u.AccountId));
        Assert.Contains(silo.Lines, l => l.Contains("not available to clients", StringComparison.Ordinal) || l.Contains("denied", StringComparison.OrdinalIgnoreCase));
    }

    private static IDisposable Spoof(IClusterClient client, GrainId sender)
    {
        var runtimeType = typeof(IClusterClient).Assembly.GetType("Orleans.OutsideRuntimeClient")!;
        var runtime = client.ServiceProvider.GetService(runtimeType) ?? throw new InvalidOperationException("no runtime client");
        var field = runtimeType.GetField("<CurrentActivationAddress>k__BackingField", BindingFlags.NonPublic | BindingFlags.Instance)!;
        var real = (GrainAddress)field.GetValue(runtime)!;
        field.SetValue(runtime, new GrainAddress { GrainId = sender, SiloAddress = real.SiloAddress, ActivationId = real.ActivationId });
        return new Restore(() => field.SetValue(runtime, real));
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
