using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Plandex.GrainInterfaces;
using Plandex.Grains.Providers;

namespace Plandex.Tests.Streams;

/// <summary>
/// A provider's host name is looked up once per cache lifetime, not per stream; the address is still checked on every
/// use, a failed lookup or an unreachable address is not remembered.
/// </summary>
public sealed class ProviderHostsTests
{
    private sealed class Resolver(params IPAddress[] answer)
    {
        public int Lookups;
        public IPAddress[] Answer = answer;
        public Exception? Failure;
        public TaskCompletionSource? Gate;

        public async Task<IPAddress[]> LookupAsync(string host, CancellationToken ct)
        {
            Interlocked.Increment(ref Lookups);
            if (Gate is { } gate) await gate.Task;
            if (Failure is { } f) throw f;
            return Answer;
        }
    }

    private static (EndpointPolicy Policy, ProviderHosts Hosts, FakeTimeProvider Time) Make(Resolver r, ProvidersOptions? o = null)
    {
        var options = Options.Create(o ?? new ProvidersOptions { AllowedEndpoints = "https://api.example.com/v1" });
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var hosts = new ProviderHosts(options, time, r.LookupAsync);
        return (new EndpointPolicy(options, hosts), hosts, time);
    }

    private const string Endpoint = "https://api.example.com/v1";

    [Fact]
    public async Task A_name_is_looked_up_once_per_lifetime_and_again_after_it()
    {
        var r = new Resolver(IPAddress.Parse("203.0.113.7"), IPAddress.Parse("203.0.113.8"));
        var (policy, _, time) = Make(r);
        var first = await policy.ResolveAsync(Endpoint, CancellationToken.None);
        r.Answer = [IPAddress.Parse("203.0.113.9")]; // a rotating answer: the cached one keeps the pool's key stable
        var second = await policy.ResolveAsync(Endpoint, CancellationToken.None);
        Assert.Equal(1, r.Lookups);
        Assert.Equal(IPAddress.Parse("203.0.113.7"), first.Address);
        Assert.Equal(first.Address, second.Address);

        time.Advance(new ProvidersOptions().HostCacheLifetime);
        var third = await policy.ResolveAsync(Endpoint, CancellationToken.None);
        Assert.Equal(2, r.Lookups);
        Assert.Equal(IPAddress.Parse("203.0.113.9"), third.Address);
    }

    [Fact]
    public async Task Tells_that_start_together_share_one_lookup()
    {
        var r = new Resolver(IPAddress.Parse("203.0.113.7")) { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var (policy, _, _) = Make(r);
        var all = Enumerable.Range(0, 20).Select(_ => policy.ResolveAsync(Endpoint, CancellationToken.None)).ToArray();
        await Task.Delay(50);
        Assert.All(all, t => Assert.False(t.IsCompleted));
        r.Gate.SetResult();
        var done = await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, r.Lookups);
        Assert.All(done, e => Assert.Equal(IPAddress.Parse("203.0.113.7"), e.Address));
    }

    [Fact]
    public async Task A_failed_lookup_is_not_remembered()
    {
        var r = new Resolver(IPAddress.Parse("203.0.113.7")) { Failure = new SocketException((int)SocketError.HostNotFound) };
        var (policy, _, _) = Make(r);
        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => policy.ResolveAsync(Endpoint, CancellationToken.None));
        Assert.Contains("api.example.com", e.Message);
        r.Failure = null;
        var ok = await policy.ResolveAsync(Endpoint, CancellationToken.None);
        Assert.Equal(2, r.Lookups);
        Assert.Equal(IPAddress.Parse("203.0.113.7"), ok.Address);
    }

    [Fact]
    public async Task An_unreachable_address_makes_the_next_stream_look_the_name_up_again()
    {
        var r = new Resolver(IPAddress.Parse("203.0.113.7"));
        var (policy, _, _) = Make(r);
        var first = await policy.ResolveAsync(Endpoint, CancellationToken.None);
        policy.Unreachable(first);
        r.Answer = [IPAddress.Parse("203.0.113.9")];
        var next = await policy.ResolveAsync(Endpoint, CancellationToken.None);
        Assert.Equal(2, r.Lookups);
        Assert.Equal(IPAddress.Parse("203.0.113.9"), next.Address);
    }

    [Fact]
    public async Task A_cached_answer_is_checked_on_every_use_and_zero_turns_the_cache_off()
    {
        // An allowlisted name that points into the cloud's metadata service: refused each time, from cache or not.
        var r = new Resolver(IPAddress.Parse("169.254.169.254"));
        var (policy, _, _) = Make(r);
        for (var i = 0; i < 3; i++)
        {
            var e = await Assert.ThrowsAsync<InvalidRequestException>(() => policy.ResolveAsync(Endpoint, CancellationToken.None));
            Assert.Contains("metadata", e.Message);
        }
        Assert.Equal(1, r.Lookups);

        var off = new Resolver(IPAddress.Parse("203.0.113.7"));
        var (uncached, _, _) = Make(off, new ProvidersOptions { AllowedEndpoints = Endpoint, HostCacheLifetime = TimeSpan.Zero });
        for (var i = 0; i < 3; i++) await uncached.ResolveAsync(Endpoint, CancellationToken.None);
        Assert.Equal(3, off.Lookups);
    }

    [Fact]
    public async Task A_name_off_the_allowlist_is_never_looked_up()
    {
        var r = new Resolver(IPAddress.Parse("203.0.113.7"));
        var (policy, _, _) = Make(r);
        await Assert.ThrowsAsync<InvalidRequestException>(() => policy.ResolveAsync("https://elsewhere.example.com/v1", CancellationToken.None));
        Assert.Equal(0, r.Lookups);
    }
}
