using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Plandex.Grains.Providers;

/// <summary>The few OpenSSL 3 calls <see cref="ProviderTlsStream"/> needs (the same libssl .NET itself loads on Linux).</summary>
internal static class LibSsl
{
    private const string Ssl = "libssl.so.3";
    private const string Crypto = "libcrypto.so.3";

    public const int ErrorWantRead = 2;
    public const int ErrorZeroReturn = 6;
    public const int CtrlSetTlsextHostname = 55;
    private const int CtrlSetMinProtoVersion = 123;
    private const int Tls12Version = 0x0303;
    private const int CtrlMode = 33;
    private const int ModeReleaseBuffers = 0x10;
    private const int VerifyPeer = 1;
    private const ulong OptionCleansePlaintext = 1UL << 1; // wipe each record's plaintext once it is handed over
    private const ulong OptionNoCompression = 1UL << 17;
    private const ulong OptionNoRenegotiation = 1UL << 30;

    /// <summary>Client context with the system's roots, made once (SSL_CERT_FILE / SSL_CERT_DIR are read then).</summary>
    public static readonly Lazy<IntPtr> DefaultContext = new(() => NewContext(null));

    /// <summary>A client context: verify the peer against <paramref name="rootsFile"/> (PEM), or the system's roots when null.</summary>
    public static IntPtr NewContext(string? rootsFile)
    {
        var ctx = SSL_CTX_new(TLS_client_method());
        if (ctx == IntPtr.Zero) throw new ProviderException("TLS is not available on this server (OpenSSL 3 did not start)");
        var roots = rootsFile is null ? SSL_CTX_set_default_verify_paths(ctx) : SSL_CTX_load_verify_locations(ctx, rootsFile, null);
        if (roots != 1 && rootsFile is not null) throw new ProviderException("the TLS roots file could not be read");
        SSL_CTX_set_verify(ctx, VerifyPeer, IntPtr.Zero);
        SSL_CTX_set_options(ctx, OptionCleansePlaintext | OptionNoCompression | OptionNoRenegotiation);
        SSL_CTX_ctrl(ctx, CtrlSetMinProtoVersion, Tls12Version, IntPtr.Zero);
        // Record buffers are freed (and, with the option above, cleansed) whenever they are empty: a paced stream
        // does not hold 34 KB of them between windows.
        SSL_CTX_ctrl(ctx, CtrlMode, ModeReleaseBuffers, IntPtr.Zero);
        ERR_clear_error();
        return ctx; // lives as long as the process (one per roots file; tests make a few)
    }

    [DllImport(Ssl)] private static extern IntPtr TLS_client_method();
    [DllImport(Ssl)] private static extern IntPtr SSL_CTX_new(IntPtr method);
    [DllImport(Ssl)] private static extern int SSL_CTX_set_default_verify_paths(IntPtr ctx);
    [DllImport(Ssl)] private static extern int SSL_CTX_load_verify_locations(IntPtr ctx, [MarshalAs(UnmanagedType.LPUTF8Str)] string? file, [MarshalAs(UnmanagedType.LPUTF8Str)] string? path);
    [DllImport(Ssl)] private static extern void SSL_CTX_set_verify(IntPtr ctx, int mode, IntPtr callback);
    [DllImport(Ssl)] private static extern ulong SSL_CTX_set_options(IntPtr ctx, ulong options);
    [DllImport(Ssl)] private static extern nint SSL_CTX_ctrl(IntPtr ctx, int cmd, nint larg, IntPtr parg);

    [DllImport(Ssl)] public static extern SafeSslHandle SSL_new(IntPtr ctx);
    [DllImport(Ssl)] private static extern void SSL_free(IntPtr ssl);
    [DllImport(Ssl)] public static extern nint SSL_ctrl(SafeSslHandle ssl, int cmd, nint larg, [MarshalAs(UnmanagedType.LPUTF8Str)] string parg);
    [DllImport(Ssl)] public static extern int SSL_set1_host(SafeSslHandle ssl, [MarshalAs(UnmanagedType.LPUTF8Str)] string host);
    [DllImport(Ssl)] public static extern IntPtr SSL_get0_param(SafeSslHandle ssl);
    [DllImport(Ssl)] public static extern void SSL_set_connect_state(SafeSslHandle ssl);
    [DllImport(Ssl)] public static extern void SSL_set_bio(SafeSslHandle ssl, IntPtr rbio, IntPtr wbio);
    [DllImport(Ssl)] public static extern int SSL_do_handshake(SafeSslHandle ssl);
    [DllImport(Ssl)] public static extern int SSL_read(SafeSslHandle ssl, ref byte buffer, int count);
    [DllImport(Ssl)] public static extern int SSL_write(SafeSslHandle ssl, ref byte buffer, int count);
    [DllImport(Ssl)] public static extern int SSL_get_error(SafeSslHandle ssl, int result);
    [DllImport(Ssl)] public static extern nint SSL_get_verify_result(SafeSslHandle ssl);
    [DllImport(Ssl)] public static extern int SSL_free_buffers(SafeSslHandle ssl);

    [DllImport(Crypto)] public static extern int X509_VERIFY_PARAM_set1_ip_asc(IntPtr param, [MarshalAs(UnmanagedType.LPUTF8Str)] string ip);
    [DllImport(Crypto)] public static extern IntPtr BIO_s_mem();
    [DllImport(Crypto)] public static extern IntPtr BIO_new(IntPtr method);
    [DllImport(Crypto)] public static extern int BIO_write(IntPtr bio, ref byte data, int count);
    [DllImport(Crypto)] public static extern int BIO_read(IntPtr bio, ref byte data, int count);
    [DllImport(Crypto)] public static extern nuint BIO_ctrl_pending(IntPtr bio);
    [DllImport(Crypto)] public static extern void ERR_clear_error();

    /// <summary>An OpenSSL connection (SSL*); freeing it frees its BIOs.</summary>
    internal sealed class SafeSslHandle() : SafeHandleZeroOrMinusOneIsInvalid(ownsHandle: true)
    {
        protected override bool ReleaseHandle()
        {
            SSL_free(handle);
            return true;
        }
    }
}
