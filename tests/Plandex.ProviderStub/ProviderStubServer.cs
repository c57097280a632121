using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Plandex.ProviderStub;

/// <summary>
/// Loopback HTTP server imitating the OpenAI Chat Completions and Anthropic Messages streaming APIs,
/// with controllable pacing and faults, and a recording of what arrived.
/// </summary>
public sealed partial class ProviderStubServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly StubOptions _initialOptions;
    // Cancelled on shutdown so stalled/paced streams end at once instead of holding StopAsync for the host timeout.
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private StubOptions _defaults;
    private long _requestCount;
    private int _recordedCount;
    private int _activeStreams;
    private int _disposed;

    private ProviderStubServer(WebApplication app, StubOptions options)
    {
        _app = app;
        _initialOptions = options;
        _defaults = options;
        BaseUrl = null!;
    }

    /// <summary>e.g. http://127.0.0.1:40123/ — append "v1/chat/completions" or "v1/messages".</summary>
    public Uri BaseUrl { get; private set; }

    /// <summary>Server-wide defaults; per-request model-name parameters override them.</summary>
    public StubOptions Defaults
    {
        get => Volatile.Read(ref _defaults);
        set => Volatile.Write(ref _defaults, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>Requests received on any non-control path (/_stub/* excluded), including rejected ones.</summary>
    public long RequestCount => Interlocked.Read(ref _requestCount);

    /// <summary>Provider requests currently being handled.</summary>
    public int ActiveRequests => Volatile.Read(ref _activeStreams);

    /// <summary>Snapshot of recorded requests, oldest first.</summary>
    public IReadOnlyList<RecordedRequest> Requests => _requests.ToArray();

    /// <param name="tls">When given, the stub serves HTTPS with this certificate (it must hold its private key, and
    /// the client must trust it) instead of plain HTTP.</param>
    public static Task<ProviderStubServer> StartAsync(StubOptions? options = null, int port = 0, X509Certificate2? tls = null)
        => StartCoreAsync(options ?? new StubOptions(), port, tls);

    private static async Task<ProviderStubServer> StartCoreAsync(StubOptions options, int port, X509Certificate2? tls)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ApplicationName = typeof(ProviderStubServer).Assembly.GetName().Name,
            // Not the caller's cwd: a test project's appsettings must not reconfigure the stub.
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        // Never hook Ctrl-C/SIGTERM: inside a test host that would hijack the host's own handling.
        builder.Services.AddSingleton<IHostLifetime, PassiveLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, port, listen => { if (tls is not null) listen.UseHttps(tls); });
            k.AddServerHeader = false;
            // Thousands of long, slowly-read streams are the point: no connection caps or data-rate kills.
            k.Limits.MaxConcurrentConnections = null;
            k.Limits.MaxConcurrentUpgradedConnections = null;
            k.Limits.MinResponseDataRate = null;
            k.Limits.MinRequestBodyDataRate = null;
            k.Limits.KeepAliveTimeout = options.KeepAliveTimeout;
        });

        var app = builder.Build();
        var server = new ProviderStubServer(app, options);
        server.MapEndpoints(app);
        await app.StartAsync().ConfigureAwait(false);

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var actualPort = new Uri(address).Port; // Kestrel reports the real port when 0 was asked for
        server.BaseUrl = new Uri($"{(tls is null ? "http" : "https")}://127.0.0.1:{actualPort}/");
        return server;
    }

    /// <summary>Lowercase hex SHA-256 of a credential, as stored in <see cref="RecordedRequest.CredentialSha256"/>.</summary>
    public static string HashCredential(string credential) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(credential)));

    /// <summary>The full reply text for <paramref name="tokens"/> tokens: "t0 t1 ... t{n-1} ".</summary>
    public static string ExpectedText(int tokens)
    {
        var sb = new StringBuilder(tokens * 6);
        for (var i = 0; i < tokens; i++) sb.Append('t').Append(i).Append(' ');
        return sb.ToString();
    }

    /// <summary>Atomically updates the defaults (safe against concurrent control-endpoint updates).</summary>
    public void Configure(Func<StubOptions, StubOptions> update)
    {
        while (true)
        {
            var current = Defaults;
            var next = update(current) ?? throw new InvalidOperationException("update returned null");
            if (ReferenceEquals(Interlocked.CompareExchange(ref _defaults, next, current), current)) return;
        }
    }

    /// <summary>Forgets recorded requests and zeroes <see cref="RequestCount"/>.</summary>
    public void ClearRequests()
    {
        _requests.Clear();
        Interlocked.Exchange(ref _recordedCount, 0);
        Interlocked.Exchange(ref _requestCount, 0);
    }

    /// <summary><see cref="ClearRequests"/> plus restoring the options given at start.</summary>
    public void Reset()
    {
        ClearRequests();
        Defaults = _initialOptions;
    }

    /// <summary>Polls the recording until a request matches; handy when the caller is not the HTTP client.</summary>
    public async Task<RecordedRequest> WaitForRequestAsync(Func<RecordedRequest, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            foreach (var r in _requests)
                if (predicate(r)) return r;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("no matching request recorded");
            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    private RecordedRequest Record(RecordedRequest request, int max)
    {
        _requests.Enqueue(request);
        if (Interlocked.Increment(ref _recordedCount) > max && _requests.TryDequeue(out _))
            Interlocked.Decrement(ref _recordedCount);
        return request;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        try { await _app.StopAsync().ConfigureAwait(false); }
        finally
        {
            await _app.DisposeAsync().ConfigureAwait(false);
            _stopping.Dispose();
        }
    }

    private sealed class PassiveLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
