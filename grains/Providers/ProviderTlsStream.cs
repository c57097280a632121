using System.Buffers;
using System.Net;
using System.Runtime.InteropServices;

namespace Plandex.Grains.Providers;

/// <summary>
/// TLS to a provider, with OpenSSL (libssl 3) called directly instead of through <see cref="System.Net.Security.SslStream"/>.
/// Hand-written because a security property demands it: a provider's error body may echo the user's key, and
/// SslStream decrypts each record into an array it returns to <c>ArrayPool&lt;byte&gt;.Shared</c> without clearing
/// it, while OpenSSL keeps a record's plaintext in its read buffer unless <c>SSL_OP_CLEANSE_PLAINTEXT</c> is set,
/// which SslStream offers no way to do. Both copies outlived the stream in memory dumps (README, "How your key is
/// handled"). Here OpenSSL decrypts straight into the caller's buffer (the stream's pinned one, wiped at its end)
/// with that option on, and the request's head goes from its pinned buffer into OpenSSL, which encrypts it in place;
/// this class itself only ever holds ciphertext. Verification is OpenSSL's own: the system's roots (OpenSSL honours
/// <c>SSL_CERT_FILE</c> and <c>SSL_CERT_DIR</c>), the chain, and the name (DNS name or IP address); TLS 1.2 or newer.
/// One reader and one writer at a time, never both at once (a request is written, then its response read).
/// </summary>
internal sealed class ProviderTlsStream : Stream
{
    // Ciphertext in: small for a paced stream (a window's few records), one whole record and its overhead while reads
    // fill it (a fast provider), small again once a read comes back short. The handshake never grows it (a
    // certificate chain fills 2 KB on every connection and would leave each paced stream 15 KB it never needs).
    // Ciphertext out (the request, handshake messages) is rented per flush.
    private const int InitialInSize = 2 * 1024;
    private const int CipherBufferSize = 17 * 1024;

    private readonly Stream _inner;
    private readonly LibSsl.SafeSslHandle _ssl;
    private readonly IntPtr _rbio; // ciphertext in; owned by _ssl
    private readonly IntPtr _wbio; // ciphertext out; owned by _ssl
    private byte[] _in = new byte[InitialInSize];
    private bool _connected; // handshake done: reads may grow _in

    /// <summary>The ciphertext buffer's size now (tests).</summary>
    internal int InputCapacity => _in.Length;

    private ProviderTlsStream(Stream inner, LibSsl.SafeSslHandle ssl, IntPtr rbio, IntPtr wbio)
    {
        _inner = inner;
        _ssl = ssl;
        _rbio = rbio;
        _wbio = wbio;
    }

    /// <summary>
    /// The handshake with <paramref name="host"/> over <paramref name="inner"/>. Throws <see cref="ProviderException"/>
    /// when the provider's certificate does not verify or the handshake fails. <paramref name="trustedRoots"/> (PEM file)
    /// replaces the system's roots: tests only.
    /// </summary>
    public static async Task<ProviderTlsStream> ConnectAsync(Stream inner, string host, CancellationToken ct, string? trustedRoots = null)
    {
        var tls = Create(inner, host, trustedRoots);
        try
        {
            while (true)
            {
                var (result, error) = tls.Handshake();
                await tls.FlushOutAsync(ct);
                if (result == 1) break;
                if (error != LibSsl.ErrorWantRead) throw tls.HandshakeFailure();
                if (!await tls.FillAsync(ct)) throw new ProviderException("the provider closed the connection during the TLS handshake");
            }
            if (LibSsl.SSL_get_verify_result(tls._ssl) != 0) throw tls.HandshakeFailure(); // SSL_VERIFY_PEER already refused it
            tls._connected = true;
            return tls;
        }
        catch
        {
            tls.Dispose();
            throw;
        }
    }

    private static ProviderTlsStream Create(Stream inner, string host, string? trustedRoots)
    {
        var ssl = LibSsl.SSL_new(trustedRoots is null ? LibSsl.DefaultContext.Value : LibSsl.NewContext(trustedRoots));
        if (ssl.IsInvalid) throw new ProviderException("TLS is not available on this server (OpenSSL 3 could not start a connection)");
        try
        {
            var rbio = LibSsl.BIO_new(LibSsl.BIO_s_mem());
            var wbio = LibSsl.BIO_new(LibSsl.BIO_s_mem());
            if (rbio == IntPtr.Zero || wbio == IntPtr.Zero) throw new ProviderException("TLS is not available on this server (out of memory)");
            LibSsl.SSL_set_bio(ssl, rbio, wbio); // ssl owns both from here
            host = host.Trim('[', ']');
            if (IPAddress.TryParse(host, out _))
            {
                if (LibSsl.X509_VERIFY_PARAM_set1_ip_asc(LibSsl.SSL_get0_param(ssl), host) != 1) throw new ProviderException("cannot verify TLS for this address");
            }
            // The name the certificate must carry, and SNI (IP literals are never sent as SNI).
            else if (LibSsl.SSL_set1_host(ssl, host) != 1 || LibSsl.SSL_ctrl(ssl, LibSsl.CtrlSetTlsextHostname, 0, host) != 1)
                throw new ProviderException("cannot verify TLS for this host name");
            LibSsl.SSL_set_connect_state(ssl);
            return new ProviderTlsStream(inner, ssl, rbio, wbio);
        }
        catch
        {
            ssl.Dispose();
            throw;
        }
    }

    private ProviderException HandshakeFailure()
    {
        var verify = LibSsl.SSL_get_verify_result(_ssl);
        LibSsl.ERR_clear_error();
        return verify != 0
            ? new ProviderException($"the provider's TLS certificate could not be verified (OpenSSL verify error {verify})")
            : new ProviderException("the TLS handshake with the provider failed");
    }

    // Each OpenSSL call runs with the handle held (a dispose cannot free it mid-call) and the thread's error queue
    // cleared before it (OpenSSL's queue is per thread, and this thread may have run other OpenSSL work).
    private (int Result, int Error) Handshake()
    {
        var added = false;
        _ssl.DangerousAddRef(ref added);
        try
        {
            LibSsl.ERR_clear_error();
            var r = LibSsl.SSL_do_handshake(_ssl);
            return r == 1 ? (r, 0) : (r, LibSsl.SSL_get_error(_ssl, r));
        }
        finally { if (added) _ssl.DangerousRelease(); }
    }

    private (int Result, int Error) Decrypt(Span<byte> into)
    {
        var added = false;
        _ssl.DangerousAddRef(ref added);
        try
        {
            LibSsl.ERR_clear_error();
            var r = LibSsl.SSL_read(_ssl, ref MemoryMarshal.GetReference(into), into.Length);
            return r > 0 ? (r, 0) : (r, LibSsl.SSL_get_error(_ssl, r));
        }
        finally { if (added) _ssl.DangerousRelease(); }
    }

    // Every whole record OpenSSL holds, as far as the buffer goes: like a plain socket read, one read takes all that
    // has come (a paced stream's window of tokens arrives as one record per token; one record per read fell behind
    // a model's pace).
    private (int Read, int Error) DecryptAvailable(Span<byte> into)
    {
        var total = 0;
        while (total < into.Length)
        {
            var (r, error) = Decrypt(into[total..]);
            if (r <= 0) return total > 0 ? (total, 0) : (0, error);
            total += r;
        }
        return (total, 0);
    }

    // Before waiting for the provider: OpenSSL frees (and, cleansing, wipes) its record buffers. SSL_MODE_RELEASE_BUFFERS
    // frees the read buffer itself, but the 16.6 KB write buffer, made again for any post-handshake message (a TLS
    // 1.3 session ticket), stayed until the next write: for a stream's whole life. Nothing is freed while part of a
    // record is still buffered (OpenSSL refuses).
    private void ReleaseRecordBuffers()
    {
        var added = false;
        _ssl.DangerousAddRef(ref added);
        try { LibSsl.SSL_free_buffers(_ssl); }
        finally { if (added) _ssl.DangerousRelease(); }
    }

    private bool Encrypt(ReadOnlySpan<byte> plaintext)
    {
        var added = false;
        _ssl.DangerousAddRef(ref added);
        try
        {
            LibSsl.ERR_clear_error();
            return LibSsl.SSL_write(_ssl, ref MemoryMarshal.GetReference(plaintext), plaintext.Length) == plaintext.Length;
        }
        finally { if (added) _ssl.DangerousRelease(); }
    }

    /// <summary>Reads ciphertext from the socket into OpenSSL. False at the end of the connection.</summary>
    private async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        var n = await _inner.ReadAsync(_in, ct);
        if (n == 0) return false;
        var added = false;
        _ssl.DangerousAddRef(ref added);
        try { if (LibSsl.BIO_write(_rbio, ref _in[0], n) != n) throw new IOException("TLS input was not taken"); }
        finally { if (added) _ssl.DangerousRelease(); }
        if (_connected && n == _in.Length && _in.Length < CipherBufferSize) _in = new byte[CipherBufferSize]; // a fast provider
        else if (n <= InitialInSize / 2 && _in.Length > InitialInSize) _in = new byte[InitialInSize]; // paced again
        return true;
    }

    /// <summary>Sends whatever records OpenSSL has made (handshake messages, encrypted data).</summary>
    private async ValueTask FlushOutAsync(CancellationToken ct)
    {
        if (Pending() == 0) return;
        var buffer = ArrayPool<byte>.Shared.Rent(CipherBufferSize); // ciphertext only: nothing to wipe
        try
        {
            while (true)
            {
                int n;
                var added = false;
                _ssl.DangerousAddRef(ref added);
                try { n = LibSsl.BIO_ctrl_pending(_wbio) == 0 ? 0 : LibSsl.BIO_read(_wbio, ref buffer[0], buffer.Length); }
                finally { if (added) _ssl.DangerousRelease(); }
                if (n <= 0) return;
                await _inner.WriteAsync(buffer.AsMemory(0, n), ct);
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    private nuint Pending()
    {
        var added = false;
        _ssl.DangerousAddRef(ref added);
        try { return LibSsl.BIO_ctrl_pending(_wbio); }
        finally { if (added) _ssl.DangerousRelease(); }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        while (true)
        {
            var (n, error) = DecryptAvailable(buffer.Span); // plaintext goes from OpenSSL straight into the caller's buffer
            await FlushOutAsync(cancellationToken); // a key update may want an answer
            if (n > 0) return n;
            switch (error)
            {
                case LibSsl.ErrorWantRead:
                    ReleaseRecordBuffers();
                    if (!await FillAsync(cancellationToken)) return 0; // closed without close_notify: the end, as SslStream has it
                    break;
                case LibSsl.ErrorZeroReturn:
                    return 0; // close_notify
                default:
                    throw new IOException("TLS error while reading from the provider");
            }
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return;
        if (!Encrypt(buffer.Span)) throw new IOException("TLS error while writing to the provider");
        await FlushOutAsync(cancellationToken);
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _ssl.Dispose(); // SSL_free: the connection's state and both BIOs (ciphertext only)
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
