using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Plandex.GrainInterfaces;

namespace Plandex.Client.Connection;

/// <summary>
/// The typed client: an Orleans client on a static gateway list (a laptop never needs database credentials).
/// Every call carries the session token in the RequestContext, set by <see cref="SessionTokenFilter"/>.
/// </summary>
public sealed class PlandexClient : IAsyncDisposable
{
    private readonly IHost _host;

    private PlandexClient(IHost host, PlandexClientOptions options)
    {
        _host = host;
        Options = options;
        Grains = host.Services.GetRequiredService<IClusterClient>();
    }

    public PlandexClientOptions Options { get; }
    public IClusterClient Grains { get; }

    public static async Task<PlandexClient> ConnectAsync(PlandexClientOptions options, CancellationToken ct = default)
    {
        var tls = options.Tls.AppliesTo(options.Server);
        // Why the gateway's certificate was refused, the first time. Orleans retries a refused gateway until the
        // connect times out, which cannot help when there is only one: then the reason ends the connect at once.
        var refused = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(new SessionTokenFilter.Holder(options.SessionToken));
        builder.UseOrleansClient(c =>
        {
            c.UseStaticClustering(options.Server.Gateways.ToArray());
            c.Configure<ClusterOptions>(o => { o.ClusterId = options.ClusterId; o.ServiceId = options.ServiceId; });
            c.Configure<MessagingOptions>(o => o.ResponseTimeout = options.ResponseTimeout);
            c.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            c.AddOutgoingGrainCallFilter<SessionTokenFilter>();
            if (tls) options.Tls.Configure(c, options.Server, why => refused.TrySetResult(why));
        });
        var host = builder.Build();
        string? refusal = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(8));
            var started = host.StartAsync(timeout.Token);
            if (options.Server.Gateways.Count == 1 && await Task.WhenAny(started, refused.Task) != started)
            {
                refusal = await refused.Task;
                await timeout.CancelAsync();
            }
            await started;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested || refusal is not null)
        {
            host.Dispose();
            // With several gateways the connect ran its course; a refusal seen on the way is still the likeliest why.
            refusal ??= refused.Task.IsCompletedSuccessfully ? refused.Task.Result : null;
            if (refusal is not null)
                throw new ServerUnreachableException($"will not connect to the Plandex server at {options.Server} over TLS: {refusal}");
            throw new ServerUnreachableException(tls
                ? $"cannot reach the Plandex server at {options.Server} over TLS (is it up, and does its certificate name that host and chain to your system's roots or to {ServerTls.CaFileVariable}?)"
                : $"cannot reach the Plandex server at {options.Server} (without TLS; {ServerTls.ModeVariable}=on if it has a certificate)", e);
        }
        return new PlandexClient(host, options);
    }

    public Task<ClusterStatus> GetClusterStatusAsync() => Grains.GetGrain<IClusterStatusGrain>(0).GetStatus();

    public Task<SignInResult> SignUpAsync(SignUpRequest request) => Grains.GetGrain<IAccessGrain>(0).SignUp(request);
    public Task<SignInResult> SignInWithCodeAsync(string email, string code) => Grains.GetGrain<IAccessGrain>(0).SignInWithCode(email, code);
    public IAccountGrain Account(Guid accountId) => Grains.GetGrain<IAccountGrain>(accountId);
    public IOrgGrain Org(Guid orgId) => Grains.GetGrain<IOrgGrain>(orgId);
    public IPlanGrain Plan(Guid planId) => Grains.GetGrain<IPlanGrain>(planId);
    public Streams.PlanStreams Streams => new(this);

    public async ValueTask DisposeAsync()
    {
        try { await _host.StopAsync(TimeSpan.FromSeconds(2)); } catch (OperationCanceledException) { }
        _host.Dispose();
    }
}
