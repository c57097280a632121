using System.Security.Cryptography;
using System.Text;
using Plandex.GrainInterfaces.Security;

namespace Plandex.Grains.Providers;

/// <summary>
/// Builds an HTTP/1.1 request head in one pinned buffer, so the Authorization bytes copied in from the unsealed
/// key never land in movable or pooled memory; <see cref="Dispose"/> zeroes it. (HttpClient headers are strings.)
/// </summary>
public sealed class PinnedHeadWriter : IDisposable
{
    private byte[] _buffer = ProviderKeySeal.Pinned(4096);
    private int _length;

    public void Ascii(string text)
    {
        Ensure(text.Length);
        _length += Encoding.ASCII.GetBytes(text, _buffer.AsSpan(_length));
    }

    public void Secret(ReadOnlySpan<byte> bytes)
    {
        Ensure(bytes.Length);
        bytes.CopyTo(_buffer.AsSpan(_length));
        _length += bytes.Length;
    }

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _length);

    private void Ensure(int more)
    {
        if (_length + more <= _buffer.Length) return;
        var bigger = ProviderKeySeal.Pinned(Math.Max(_buffer.Length * 2, _length + more));
        _buffer.AsSpan(0, _length).CopyTo(bigger);
        CryptographicOperations.ZeroMemory(_buffer);
        _buffer = bigger;
    }

    public void Dispose() => CryptographicOperations.ZeroMemory(_buffer);
}
