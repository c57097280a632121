using System.Net.Sockets;

namespace Plandex.Grains.Providers;

/// <summary>
/// The stream over a provider socket (under TLS when there is one), able to keep the kernel quiet while a paced read
/// loop waits out its window. A paced stream's tokens arrive one small write at a time; with the socket's low-water
/// mark at 1 byte each arrival wakes the process's socket engine, although nobody reads until the window ends (at
/// 1,500 paced streams a tenth of the silo's CPU and of the stub's, whose loopback send does the wake-up).
/// <see cref="HoldWakeups"/> raises the low-water mark (<c>SO_RCVLOWAT</c>) above what a paced window brings, so
/// arrivals only queue; every read first lowers it again unless the kernel already holds data, so no read ever
/// waits for readiness behind the raised mark (also not TLS's second read for the rest of a record).
/// Linux only: there a non-blocking read returns what is buffered whatever the mark, and the kernel skips the wake-up
/// below it; on BSD-derived systems (macOS) a non-blocking read below the mark can fail as if nothing were there, so
/// elsewhere holding does nothing.
/// One reader at a time, as for any stream.
/// </summary>
internal sealed class ProviderSocketStream(Socket socket) : NetworkStream(socket, ownsSocket: false)
{
    private bool _held;
    private bool _unsupported = !OperatingSystem.IsLinux();

    /// <summary>Until the next read, data under <paramref name="bytes"/> does not wake the socket engine.</summary>
    public void HoldWakeups(int bytes)
    {
        if (_held || _unsupported) return;
        try
        {
            Socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReceiveLowWater, bytes);
            _held = true;
        }
        catch (SocketException) { _unsupported = true; } // an optimisation only: the stream reads as before
        catch (ObjectDisposedException) { }
    }

    /// <summary>Every arrival wakes the socket engine again (before a read that may wait, and before pooling).</summary>
    public void ReleaseWakeups()
    {
        if (!_held) return;
        _held = false;
        try { Socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReceiveLowWater, 1); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { } // the read that follows fails on its own
    }

    // A held socket with data buffered is read as it is (the read completes at once); an empty one is released first.
    private void BeforeRead()
    {
        if (!_held) return;
        int buffered;
        try { buffered = Socket.Available; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { buffered = 0; }
        if (buffered == 0) ReleaseWakeups();
    }

    public override int Read(byte[] buffer, int offset, int count) { BeforeRead(); return base.Read(buffer, offset, count); }
    public override int Read(Span<byte> buffer) { BeforeRead(); return base.Read(buffer); }
    public override int ReadByte() { BeforeRead(); return base.ReadByte(); }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        BeforeRead();
        return base.ReadAsync(buffer, offset, count, cancellationToken);
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        BeforeRead();
        return base.ReadAsync(buffer, cancellationToken);
    }

    public override IAsyncResult BeginRead(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state)
    {
        BeforeRead();
        return base.BeginRead(buffer, offset, count, callback, state);
    }
}
