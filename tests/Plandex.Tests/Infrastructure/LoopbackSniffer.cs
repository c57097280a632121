using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Plandex.Tests.Infrastructure;

/// <summary>
/// Keeps the payload of every IPv4 TCP segment on this machine to or from one port, as a network observer would see
/// it: a raw socket (root only), which on Linux receives a copy of each TCP packet the host receives, loopback
/// included, so both directions of a loopback connection.
/// </summary>
internal sealed class LoopbackSniffer : IDisposable
{
    private readonly Socket _raw;
    private readonly int _port;
    private readonly MemoryStream _seen = new();
    private readonly Thread _reader;
    private volatile bool _stopped;

    public LoopbackSniffer(int port)
    {
        _port = port;
        try { _raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Tcp); }
        catch (SocketException e) { throw new InvalidOperationException("the transport test needs a raw socket: run the suite as root (CI does)", e); }
        _raw.ReceiveBufferSize = 16 * 1024 * 1024;
        _raw.ReceiveTimeout = 200;
        _raw.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _reader = new Thread(Read) { IsBackground = true, Name = "sniffer" };
        _reader.Start();
    }

    public int Segments { get; private set; }

    /// <summary>Every payload byte seen so far, both directions in arrival order.</summary>
    public byte[] Seen()
    {
        lock (_seen) return _seen.ToArray();
    }

    private void Read()
    {
        var packet = new byte[70 * 1024];
        while (!_stopped)
        {
            int n;
            try { n = _raw.Receive(packet); }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock) { continue; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            var ipHeader = (packet[0] & 0x0F) * 4;
            if (n < ipHeader + 20) continue;
            var source = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(ipHeader));
            var destination = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(ipHeader + 2));
            if (source != _port && destination != _port) continue;
            var payload = ipHeader + (packet[ipHeader + 12] >> 4) * 4;
            lock (_seen)
            {
                Segments++;
                if (n > payload) _seen.Write(packet, payload, n - payload);
            }
        }
    }

    public void Dispose()
    {
        _stopped = true;
        _reader.Join();
        _raw.Dispose();
    }
}
