using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Plandex.GrainInterfaces;
using Plandex.GrainInterfaces.Security;

namespace Plandex.Grains.Providers;

/// <summary>
/// One streaming call to a provider over a hand-written HTTP/1.1 connection. Hand-written because HttpClient
/// takes headers only as strings, and the Authorization value must never become one: the head is written from a
/// pinned buffer (<see cref="PinnedHeadWriter"/>) and the bytes read back before the body (where an error body
/// may echo the key) sit in a pinned buffer that is zeroed. Error bodies are never read into text.
/// </summary>
public static class ProviderCall
{
    // A paced stream reads well under 1 KB per window: its pinned buffer starts small and grows (to the old fixed
    // size) only for a fast provider or a long line, so a thousand idle-ish streams do not each hold 16 KB.
    private const int InitialReadBufferSize = 2 * 1024;
    private const int ReadBufferSize = 16 * 1024;

    /// <summary>
    /// Runs the call, handing batches of what the provider sent to <paramref name="handOver"/> (awaited before the
    /// next read's batch is handed over); <paramref name="pace"/>
    /// gives the shortest time between two batches once the reader has caught up with the provider (zero: no pacing),
    /// asked once per window. <paramref name="body"/> is released once the provider has answered.
    /// </summary>
    public static async Task RunAsync(ProviderConnectionPool pool, UnsealedKey key, ResolvedEndpoint endpoint, IProviderWire wire, RequestBody body,
        Func<WireEvent, ValueTask> handOver, TimeSpan stallTimeout, Func<TimeSpan> pace, CancellationToken ct)
    {
        var uri = endpoint.BaseUrl;
        for (var attempt = 1; ; attempt++)
        {
            var pooled = attempt == 1 ? pool.TryTake(endpoint) : null;
            var connection = pooled ?? await ConnectAsync(endpoint, ct);
            var reusable = false;
            ResponseReader? reader = null;
            try
            {
                await using var cancelRegistration = ct.Register(connection.Abort);
                reader = new ResponseReader(connection.Stream, stallTimeout, ct); // zeroes its buffers when done
                await WriteRequestAsync(connection.Stream, uri, wire, key, body.Bytes, ct);
                var (status, chunked, length, close) = await reader.ReadHeadAsync();
                body.Release(); // the provider answered: no retry will send it again
                if (status is < 200 or > 299) throw new ProviderException(Describe(status));
                reader.StartBody(chunked, length);
                await ReadEventsAsync(reader, connection.Transport, wire, handOver, pace, ct);
                reusable = !close && await reader.TryReadToEndAsync();
                return;
            }
            catch (Exception e) when (pooled is not null && reader is { TotalRead: 0 } && !ct.IsCancellationRequested
                                      && (reader.PeerClosed || e is IOException or SocketException))
            {
                // The provider closed the idle connection just as it was reused (nothing came back, so nothing of
                // this request was processed): once more, on a fresh connection.
            }
            finally
            {
                reader?.Dispose();
                if (reusable && !ct.IsCancellationRequested) pool.Return(endpoint, connection);
                else connection.Dispose();
            }
        }
    }

    private static async Task<ProviderConnection> ConnectAsync(ResolvedEndpoint endpoint, CancellationToken ct)
    {
        var uri = endpoint.BaseUrl;
        var socket = new Socket(endpoint.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                connect.CancelAfter(TimeSpan.FromSeconds(15));
                try { await socket.ConnectAsync(endpoint.Address, uri.Port, connect.Token); }
                catch (SocketException) { throw new ProviderException($"cannot connect to the provider at {uri.Host}:{uri.Port}", unreachable: true); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new ProviderException($"connecting to {uri.Host}:{uri.Port} timed out", unreachable: true); }
            }
            var transport = new ProviderSocketStream(socket);
            Stream stream = transport;
            // TLS through our own OpenSSL binding, not SslStream: see ProviderTlsStream (a key echoed in an error body).
            if (uri.Scheme == "https") stream = await ProviderTlsStream.ConnectAsync(transport, uri.IdnHost, ct);
            return new ProviderConnection(socket, transport, stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task WriteRequestAsync(Stream stream, Uri uri, IProviderWire wire, UnsealedKey key, byte[] body, CancellationToken ct)
    {
        using var head = new PinnedHeadWriter();
        var path = uri.AbsolutePath.TrimEnd('/') + "/" + wire.RelativePath;
        head.Ascii($"POST {path} HTTP/1.1\r\nHost: {uri.Authority}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n");
        head.Ascii($"Content-Length: {body.Length}\r\nUser-Agent: plandex-actors\r\n");
        wire.WriteAuthHeaders(head, key.Key);
        head.Ascii("\r\n");
        await stream.WriteAsync(head.Written, ct);
        await stream.WriteAsync(body, ct);
        await stream.FlushAsync(ct);
    }

    // SSE is parsed on bytes: lines are found with a vectorised search, only "data:" payloads are copied, and the
    // JSON is read from UTF-8 directly with the text copied straight into the batch. Everything parsed from one
    // socket read goes out as one batch, handed over just before the next read.
    // Pacing: a provider that sent less than PacedBelowBytes over the last window is slow (a real model: tens of
    // tokens a second, each flushed on its own); its next read waits until `pace` has passed since the last
    // hand-over, so it costs one read, one parse pass and one hand-over per window instead of per token. A fast
    // provider is never paced (waiting would only stall it once the socket buffer is full). The first text goes
    // out at once either way.
    // One loop, one await per batch: the body's framing is decoded synchronously from the buffer. (Nested async
    // readers, one per framing level, each resumed through the grain's scheduler on every batch: five work items
    // and ~20 allocations per batch, which at 1,000 streams drove the silo's GC pauses.)
    private const int PacedBelowBytes = 16 * 1024;

    private static async Task ReadEventsAsync(ResponseReader reader, ProviderSocketStream transport, IProviderWire wire,
        Func<WireEvent, ValueTask> handOver, Func<TimeSpan> pacing, CancellationToken ct)
    {
        var pace = pacing();
        var line = new SseLineBuffer();
        var data = new ArrayBufferWriter<byte>(1024);
        var eventName = new ArrayBufferWriter<byte>(64);
        var text = new StringBuilder();
        int? prompt = null, reply = null;
        long sentAt = 0, windowStart = Stopwatch.GetTimestamp(), windowBytes = 0;
        var paced = false;
        using var pacer = new PaceTimer(ct);

        async ValueTask HandOverAsync()
        {
            if (text.Length > 0 || prompt is not null || reply is not null)
            {
                await handOver(new WireEvent(text.Length > 0 ? text.ToString() : null, false, prompt, reply, null));
                text.Clear();
                prompt = reply = null;
                sentAt = Stopwatch.GetTimestamp();
            }
        }

        while (true)
        {
            while (reader.TryTakeBody(out var segment))
            {
                var rest = segment.Span;
                while (rest.Length > 0)
                {
                    var nl = rest.IndexOf((byte)'\n');
                    if (nl < 0) { line.Append(rest); break; }
                    line.Append(rest[..nl]);
                    rest = rest[(nl + 1)..];
                    var l = line.Line;
                    if (l.Length > 0 && l[^1] == (byte)'\r') l = l[..^1];
                    if (l.Length == 0)
                    {
                        if (data.WrittenCount > 0)
                        {
                            WireSignal e;
                            var before = text.Length;
                            try { e = wire.Parse(eventName.WrittenSpan, data.WrittenSpan, text); }
                            catch (System.Text.Json.JsonException) { e = new WireSignal(false, null, null, "the provider sent a malformed event"); }
                            if (e.Error is not null)
                            {
                                // What arrived before the bad event still reaches the plan, as it did one event at a time.
                                text.Length = before;
                                await HandOverAsync();
                                throw new ProviderException(e.Error);
                            }
                            if (e.PromptTokens is { } p) prompt = p;
                            if (e.ReplyTokens is { } r) reply = r;
                            if (e.Done)
                            {
                                await HandOverAsync();
                                return;
                            }
                        }
                        eventName.ResetWrittenCount();
                        data.ResetWrittenCount();
                    }
                    else if (l.StartsWith("data:"u8))
                    {
                        var payload = l[5..];
                        if (payload.Length > 0 && payload[0] == (byte)' ') payload = payload[1..];
                        if (data.WrittenCount > 0) data.Write("\n"u8);
                        data.Write(payload);
                    }
                    else if (l.StartsWith("event:"u8))
                    {
                        eventName.ResetWrittenCount();
                        eventName.Write(l[6..].Trim((byte)' '));
                    }
                    line.Clear();
                }
            }
            if (reader.BodyEnded) break;

            // Everything read so far is parsed: hand it over, then wait out the window if the provider is slow.
            await HandOverAsync();
            if (Stopwatch.GetElapsedTime(windowStart) >= pace)
            {
                pace = pacing();
                paced = reader.TotalRead - windowBytes < PacedBelowBytes;
                windowStart = Stopwatch.GetTimestamp();
                windowBytes = reader.TotalRead;
            }
            if (paced && pace > TimeSpan.Zero && sentAt != 0 && !reader.LastReadFilled)
            {
                var wait = pace - Stopwatch.GetElapsedTime(sentAt);
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    // A paced window brings less than PacedBelowBytes: nothing it sends needs to wake anyone.
                    transport.HoldWakeups(PacedBelowBytes);
                    await pacer.WaitAsync(wait);
                }
            }
            if (!await reader.FillAsync()) reader.EndOfStream();
        }
        throw new ProviderException("the provider closed the connection before the reply was complete");
    }

    /// <summary>Bytes of the current SSE line when it spans reads (kept small; lines are short).</summary>
    private sealed class SseLineBuffer
    {
        private byte[] _bytes = new byte[256];
        private int _length;

        public void Append(ReadOnlySpan<byte> part)
        {
            if (_length + part.Length > _bytes.Length) Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, _length + part.Length));
            part.CopyTo(_bytes.AsSpan(_length));
            _length += part.Length;
        }

        public ReadOnlySpan<byte> Line => _bytes.AsSpan(0, _length);

        public void Clear() => _length = 0;
    }

    private static string Describe(int status) => status switch
    {
        401 or 403 => $"the provider refused the API key ({status})",
        429 => "the provider is rate limiting this key (429): try again later",
        404 => "the provider does not know this endpoint or model (404)",
        400 => "the provider rejected the request (400): check the model name",
        >= 500 => $"the provider failed ({status}): try again later",
        _ => $"the provider answered {status}",
    };

    /// <summary>Minimal HTTP/1.1 response reading over a pinned buffer: status line, headers, then the body.</summary>
    private sealed class ResponseReader(Stream stream, TimeSpan stallTimeout, CancellationToken ct) : IDisposable
    {
        private byte[] _buffer = ProviderKeySeal.Pinned(InitialReadBufferSize);
        private int _start, _end;
        private readonly CancellationTokenSource _stall = CancellationTokenSource.CreateLinkedTokenSource(ct);

        public void Dispose()
        {
            _stall.Dispose();
            CryptographicOperations.ZeroMemory(_buffer);
        }

        // A bigger pinned buffer; the old one is zeroed (it may hold bytes of an error body that echoed the key).
        private void Grow()
        {
            var bigger = ProviderKeySeal.Pinned(ReadBufferSize);
            _buffer.AsSpan(_start, _end - _start).CopyTo(bigger);
            CryptographicOperations.ZeroMemory(_buffer);
            _buffer = bigger;
            _end -= _start;
            _start = 0;
        }

        /// <summary>The last read filled all free _buffer space: more is probably waiting in the socket.</summary>
        public bool LastReadFilled { get; private set; }

        /// <summary>The provider closed or reset the connection (not a stall, not our cancellation).</summary>
        public bool PeerClosed { get; private set; }

        /// <summary>Bytes read from the socket so far.</summary>
        public long TotalRead { get; private set; }

        /// <summary>Reads once from the socket into the free end of the buffer. False at the end of the stream.</summary>
        public async ValueTask<bool> FillAsync()
        {
            if (_buffer.Length < ReadBufferSize && (LastReadFilled || _end - _start == _buffer.Length)) Grow();
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _buffer.AsSpan(_end - _start, _start).Clear();
                _end -= _start;
                _start = 0;
            }
            if (_end == _buffer.Length) throw new ProviderException("the provider sent an oversized header or line");
            // One linked source for the whole call; CancelAfter re-arms its single timer before every read.
            _stall.CancelAfter(stallTimeout);
            int n;
            try { n = await stream.ReadAsync(_buffer.AsMemory(_end), _stall.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new ProviderException($"the provider sent nothing for {stallTimeout.TotalSeconds:0} s (stalled)");
            }
            catch (IOException) when (!ct.IsCancellationRequested)
            {
                PeerClosed = true;
                throw new ProviderException("the connection to the provider dropped mid-stream");
            }
            catch (ObjectDisposedException) when (ct.IsCancellationRequested) { throw new OperationCanceledException(ct); }
            catch (IOException) { throw new OperationCanceledException(ct); }
            PeerClosed |= n == 0;
            LastReadFilled = n == _buffer.Length - _end;
            TotalRead += n;
            _end += n;
            return n > 0;
        }

        private async Task<string> ReadLineAsync()
        {
            while (true)
            {
                var i = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (i >= 0)
                {
                    var s = Encoding.ASCII.GetString(_buffer, _start, i - _start).TrimEnd('\r');
                    _start = i + 1;
                    return s;
                }
                if (!await FillAsync()) throw new ProviderException("the connection to the provider dropped mid-stream");
            }
        }

        public async Task<(int Status, bool Chunked, long Length, bool Close)> ReadHeadAsync()
        {
            var statusLine = await ReadLineAsync();
            var parts = statusLine.Split(' ', 3);
            if (parts.Length < 2 || !parts[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || !int.TryParse(parts[1], out var status))
                throw new ProviderException("the provider did not answer with HTTP/1.1");
            var chunked = false;
            var close = parts[0] != "HTTP/1.1"; // HTTP/1.0 closes unless told otherwise: never reused
            long length = -1;
            for (var h = await ReadLineAsync(); h.Length > 0; h = await ReadLineAsync())
            {
                var colon = h.IndexOf(':');
                if (colon <= 0) continue;
                var name = h[..colon].Trim();
                var value = h[(colon + 1)..].Trim();
                if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase)) chunked = true;
                else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) long.TryParse(value, out length);
                else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase) && value.Contains("close", StringComparison.OrdinalIgnoreCase)) close = true;
            }
            return (status, chunked, length, close);
        }

        // The body's framing, decoded synchronously from what the buffer holds (chunk sizes, the CRLF after each
        // chunk's data, trailers): TryTakeBody hands out data as far as it has arrived and says when a read is needed.
        private enum BodyPhase { ChunkSize, Data, DataEnd, Trailers, Ended }
        private BodyPhase _phase;
        private bool _chunked;
        private bool _untilClose; // neither chunked nor a length: the body ends when the connection does
        private long _left;       // bytes of the current chunk (chunked) or of the whole body (Content-Length) still unread

        public bool BodyEnded => _phase == BodyPhase.Ended;

        public void StartBody(bool chunked, long length)
        {
            _chunked = chunked;
            _untilClose = !chunked && length < 0;
            _left = chunked ? 0 : length < 0 ? long.MaxValue : length;
            _phase = chunked ? BodyPhase.ChunkSize : _left == 0 ? BodyPhase.Ended : BodyPhase.Data;
        }

        /// <summary>
        /// The next piece of body data the buffer holds (consumed: valid until the next <see cref="FillAsync"/>).
        /// False when a read is needed first, or the body has ended (<see cref="BodyEnded"/>).
        /// </summary>
        public bool TryTakeBody(out ReadOnlyMemory<byte> data)
        {
            data = default;
            while (true)
            {
                switch (_phase)
                {
                    case BodyPhase.Data:
                        if (_start == _end) return false;
                        var n = (int)Math.Min(_end - _start, _left);
                        data = _buffer.AsMemory(_start, n);
                        _start += n;
                        if (!_untilClose) _left -= n;
                        if (_left == 0) _phase = _chunked ? BodyPhase.DataEnd : BodyPhase.Ended;
                        return true;
                    case BodyPhase.ChunkSize:
                        if (!TryTakeLine(out var sizeLine)) return false;
                        _left = ChunkSize(sizeLine);
                        _phase = _left == 0 ? BodyPhase.Trailers : BodyPhase.Data;
                        break;
                    case BodyPhase.DataEnd:
                        if (!TryTakeLine(out _)) return false;
                        _phase = BodyPhase.ChunkSize;
                        break;
                    case BodyPhase.Trailers:
                        if (!TryTakeLine(out var trailer)) return false;
                        if (trailer.IsEmpty) _phase = BodyPhase.Ended; // the empty line that ends the message
                        break;
                    default:
                        return false;
                }
            }
        }

        /// <summary>The socket reached its end: the body ends there only when it is read until the close.</summary>
        public void EndOfStream()
        {
            if (_untilClose) { _phase = BodyPhase.Ended; return; }
            throw new ProviderException("the connection to the provider dropped mid-stream");
        }

        // One framing line (without CR LF) if the buffer holds all of it.
        private bool TryTakeLine(out ReadOnlySpan<byte> line)
        {
            var i = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (i < 0) { line = default; return false; }
            line = _buffer.AsSpan(_start, i - _start).TrimEnd((byte)'\r');
            _start = i + 1;
            return true;
        }

        private static long ChunkSize(ReadOnlySpan<byte> line)
        {
            var semi = line.IndexOf((byte)';'); // chunk extensions are ignored
            if (semi >= 0) line = line[..semi];
            line = line.Trim(" \t"u8);
            if (line.Length is 0 or > 15) throw new ProviderException("the provider sent a malformed chunk");
            long size = 0;
            foreach (var b in line)
            {
                var v = b is >= (byte)'0' and <= (byte)'9' ? b - '0' : (b | 0x20) is >= 'a' and <= 'f' ? (b | 0x20) - 'a' + 10 : -1;
                if (v < 0) throw new ProviderException("the provider sent a malformed chunk");
                size = size * 16 + v;
            }
            return size;
        }

        /// <summary>
        /// After the last event: reads the rest of the body to its exact end (the closing chunk, trailers), so the
        /// connection can carry another request. False if that is not possible or the provider sent anything more.
        /// </summary>
        public async Task<bool> TryReadToEndAsync()
        {
            if (_untilClose) return false; // the body ends when the connection does
            var finish = FinishBodyAsync();
            try { await finish.WaitAsync(TimeSpan.FromSeconds(1)); }
            catch (Exception e) when (e is ProviderException or TimeoutException or OperationCanceledException or IOException)
            {
                _ = finish.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted); // ends when the connection is closed
                return false;
            }
            return _start == _end;
        }

        private async Task FinishBodyAsync()
        {
            while (true)
            {
                while (TryTakeBody(out _)) { }
                if (BodyEnded) return;
                if (!await FillAsync()) EndOfStream();
            }
        }
    }
}
