using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Plandex.Grains.Providers;

/// <summary>
/// Idle provider connections kept for the next stream to the same endpoint (HTTP/1.1 keep-alive), as HttpClient's
/// pool would do: a fresh connection costs every tell a TCP (and TLS) handshake with the provider before its first
/// token. A pooled connection carries no key: request heads are written from a pinned buffer and every read-back
/// buffer belongs to one call and is zeroed. Only a connection whose response was read to its exact end is
/// returned; one that failed, was stopped or saw an error status is closed. Not persisted; per silo.
/// </summary>
public sealed class ProviderConnectionPool : IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentStack<(ProviderConnection Connection, long Since)>> _idle = new(StringComparer.Ordinal);
    private readonly IOptions<ProvidersOptions> _options;
    private readonly TimeProvider _time;
    private readonly ITimer _purge;

    public ProviderConnectionPool(IOptions<ProvidersOptions> options, TimeProvider time)
    {
        _options = options;
        _time = time;
        var every = options.Value.ConnectionIdleTimeout > TimeSpan.Zero ? options.Value.ConnectionIdleTimeout : TimeSpan.FromSeconds(30);
        _purge = time.CreateTimer(_ => Purge(), null, every, every);
    }

    /// <summary>A live idle connection to <paramref name="endpoint"/>, or null.</summary>
    public ProviderConnection? TryTake(ResolvedEndpoint endpoint)
    {
        if (!_idle.TryGetValue(Key(endpoint), out var stack)) return null;
        while (stack.TryPop(out var idle))
        {
            if (Fresh(idle.Since) && idle.Connection.LooksIdle()) return idle.Connection;
            idle.Connection.Dispose();
        }
        return null;
    }

    public void Return(ResolvedEndpoint endpoint, ProviderConnection connection)
    {
        connection.Transport.ReleaseWakeups(); // so LooksIdle sees any byte an idle connection receives
        var o = _options.Value;
        var stack = _idle.GetOrAdd(Key(endpoint), _ => new());
        if (o.ConnectionIdleTimeout <= TimeSpan.Zero || stack.Count >= o.MaxIdleConnectionsPerEndpoint) { connection.Dispose(); return; }
        stack.Push((connection, _time.GetTimestamp()));
    }

    public void Dispose()
    {
        _purge.Dispose();
        foreach (var stack in _idle.Values)
            while (stack.TryPop(out var idle)) idle.Connection.Dispose();
    }

    private bool Fresh(long since) => _time.GetElapsedTime(since) < _options.Value.ConnectionIdleTimeout;

    // Connections nobody took within the idle timeout are closed (the provider would close them anyway).
    private void Purge()
    {
        foreach (var stack in _idle.Values)
        {
            var all = new List<(ProviderConnection Connection, long Since)>();
            while (stack.TryPop(out var idle)) all.Add(idle);
            for (var i = all.Count - 1; i >= 0; i--) // oldest first, so the newest is on top again
            {
                if (Fresh(all[i].Since) && all[i].Connection.LooksIdle()) stack.Push(all[i]);
                else all[i].Connection.Dispose();
            }
        }
    }

    private static string Key(ResolvedEndpoint e) => $"{e.BaseUrl.Scheme}://{e.BaseUrl.IdnHost}:{e.BaseUrl.Port}@{e.Address}";
}

/// <summary>One connection to a provider: the socket, its stream, and the stream the call reads (TLS over it, or the same).</summary>
public sealed class ProviderConnection : IDisposable
{
    private readonly Socket _socket;

    internal ProviderConnection(Socket socket, ProviderSocketStream transport, Stream stream)
    {
        _socket = socket;
        Transport = transport;
        Stream = stream;
    }

    public Stream Stream { get; }

    /// <summary>The socket's own stream, under TLS if any: where a paced read loop holds the socket's wake-ups.</summary>
    internal ProviderSocketStream Transport { get; }

    /// <summary>Closes the connection at once (stop, cancellation): a read or write in flight ends.</summary>
    public void Abort()
    {
        try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
        _socket.Close();
    }

    /// <summary>Still connected and nothing waiting to be read (an idle connection's peer sends nothing but its close).</summary>
    public bool LooksIdle()
    {
        try { return _socket.Connected && !_socket.Poll(0, SelectMode.SelectRead); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
    }

    public void Dispose()
    {
        Stream.Dispose();
        _socket.Dispose();
    }
}
