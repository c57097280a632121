using System.Net.Sockets;

namespace Plandex.Grains.Providers;

/// <summary>
/// The stream over a provider socket (under TLS when there is one), able to keep the kernel quiet while a paced read
/// loop waits out its window. A paced stream's tokens arrive one small write at a time; with the socket's low-water
/// mark at 1 byte each arrival wakes the process's socket engine, although nobody reads until the window ends (at
/// 1,500 paced streams a tenth of the silo's CPU and of the stub's, whose loopback send does the wake-up).
/// <see cref="HoldWakeups"/> raises the low-water mark (<c>SO_RCVLOWAT</c>) above what a paced window brings, so
/// arrivals only queue; a read of a held socket first takes what the kernel holds without waiting, and lowers the
/// mark again only when there is nothing, so no read ever waits for readiness behind the raised mark (also not TLS's
/// second read for the rest of a record).
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

    // A held socket is read without waiting: on Linux a non-blocking receive returns what the kernel holds whatever
    // the mark, so a paced window's tokens cost one system call. Only an empty socket is released, so the read that
    // then waits ends with the next byte, not the mark. (Asking the kernel first how much it holds, FIONREAD, was an
    // extra system call per batch: ~4 % of the silo at 1,500 paced streams.) A zero-byte read (SslStream waits for
    // a record this way; ProviderTlsStream reads with a buffer) peeks at one byte instead: it completes at once when
    // something is there, as a stream's zero-byte read must.
    private bool TryReadHeld(Span<byte> buffer, out int read)
    {
        read = 0;
        if (!_held) return false;
        Span<byte> peek = stackalloc byte[1];
        var taking = !buffer.IsEmpty;
        var error = ReceiveNow(taking ? buffer : peek, taking ? SocketFlags.None : SocketFlags.Peek, out var n);
        if (error == SocketError.Success)
        {
            read = taking ? n : 0; // bytes, or 0 when the provider closed (a zero-byte read reports 0 either way)
            return true;
        }
        ReleaseWakeups(); // nothing there (or a failure, which the ordinary read then reports as usual)
        return false;
    }

    // One non-blocking receive. Blocking is only the managed flag here: the descriptor is already non-blocking
    // (.NET's async socket engine made it so), so toggling it costs no system call.
    private SocketError ReceiveNow(Span<byte> buffer, SocketFlags flags, out int read)
    {
        read = 0;
        try
        {
            Socket.Blocking = false;
            try { read = Socket.Receive(buffer, flags, out var error); return error; }
            finally { Socket.Blocking = true; }
        }
        catch (ObjectDisposedException) { return SocketError.OperationAborted; } // the read that follows fails on its own
    }

    public override int Read(byte[] buffer, int offset, int count) =>
        TryReadHeld(buffer.AsSpan(offset, count), out var n) ? n : base.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => TryReadHeld(buffer, out var n) ? n : base.Read(buffer);

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return TryReadHeld(one, out var n) ? (n == 0 ? -1 : one[0]) : base.ReadByte();
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && TryReadHeld(buffer.AsSpan(offset, count), out var n)
            ? Task.FromResult(n)
            : base.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        !cancellationToken.IsCancellationRequested && TryReadHeld(buffer.Span, out var n)
            ? new ValueTask<int>(n)
            : base.ReadAsync(buffer, cancellationToken);

    // The APM pair goes through ReadAsync (and so through TryReadHeld) rather than NetworkStream's own.
    public override IAsyncResult BeginRead(byte[] buffer, int offset, int count, AsyncCallback? callback, object? state) =>
        TaskToAsyncResult.Begin(ReadAsync(buffer, offset, count, CancellationToken.None), callback, state);

    public override int EndRead(IAsyncResult asyncResult) => TaskToAsyncResult.End<int>(asyncResult);
}
