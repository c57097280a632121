using Plandex.ProviderStub;

// Standalone entry point: `dotnet run --project tests/Plandex.ProviderStub -- --port N`.
var port = 0;
for (var i = 0; i < args.Length; i++)
{
    var a = args[i];
    string? value = null;
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

await using var server = await ProviderStubServer.StartAsync(port: port);
Console.WriteLine($"provider-stub listening on {server.BaseUrl.GetLeftPart(UriPartial.Authority)}");
Console.Out.Flush();
try { await Task.Delay(Timeout.Infinite, stop.Token); }
catch (OperationCanceledException) { }
return 0;
