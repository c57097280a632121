using System.Collections.Concurrent;
using System.Net;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.KeyHygiene;

/// <summary>
/// A stand-in OpenTelemetry collector on loopback: accepts OTLP/HTTP exports (any path) and keeps every request
/// body (and path, and headers as text) so the test can search what the silos sent out.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _requests = new();
    private readonly Task _loop;

    private OtlpCollector(int port)
    {
        Endpoint = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(Endpoint + "/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Base URL for Telemetry:OtlpEndpoint (the silo appends /v1/traces).</summary>
    public string Endpoint { get; }
    public IReadOnlyList<(string Path, byte[] Body)> Requests => _requests.ToArray();
    public int TraceRequests => _requests.Count(r => r.Path == "/v1/traces");

    public static OtlpCollector Start()
    {
        for (var attempt = 0; ; attempt++)
        {
            try { return new OtlpCollector(Ports.Free()); }
            catch (HttpListenerException) when (attempt < 5) { }
        }
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try
            {
                using var body = new MemoryStream();
                await ctx.Request.InputStream.CopyToAsync(body);
                var headers = string.Join("\n", ctx.Request.Headers.AllKeys.Select(k => $"{k}: {ctx.Request.Headers[k]}"));
                var all = body.ToArray().Concat(System.Text.Encoding.UTF8.GetBytes("\n" + headers)).ToArray();
                _requests.Enqueue((ctx.Request.Url?.AbsolutePath ?? "", all));
                // An empty ExportTraceServiceResponse is a valid (empty) protobuf message.
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "application/x-protobuf";
                ctx.Response.ContentLength64 = 0;
                ctx.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(5)); } catch (Exception) { }
    }
}
