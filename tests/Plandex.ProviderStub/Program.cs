using Plandex.ProviderStub;

// Standalone entry point: `dotnet run --project tests/Plandex.ProviderStub -- --port N [--tls-pfx FILE]` (HTTPS with
// the certificate and key in a PKCS#12 file without a password).
var port = 0;
string? pfx = null;
for (var i = 0; i < args.Length; i++)
{
    var a = args[i];
    string? value = null;
    if (a == "--tls-pfx" && i + 1 < args.Length) { pfx = args[++i]; continue; }
    if (a == "--port" && i + 1 < args.Length) value = args[++i];
    else if (a.StartsWith("--port=", StringComparison.Ordinal)) value = a["--port=".Length..];
    else continue;
    if (!int.TryParse(value, out port) || port is < 0 or > 65535)
    {
        Console.Error.WriteLine($"invalid port: {value}");
        return 2;
    }
}

using var stop = new CancellationTokenSource();
// The server itself never hooks console signals (it also runs inside test hosts), so the exe does it.
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
    System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });

using var certificate = pfx is null ? null : System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(pfx, null);
await using var server = await ProviderStubServer.StartAsync(port: port, tls: certificate);
Console.WriteLine($"provider-stub listening on {server.BaseUrl.GetLeftPart(UriPartial.Authority)}");
Console.Out.Flush();
try { await Task.Delay(Timeout.Infinite, stop.Token); }
catch (OperationCanceledException) { }
return 0;
