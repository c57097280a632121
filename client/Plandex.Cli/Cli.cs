using System.CommandLine;
using Plandex.Client.Connection;

namespace Plandex.Cli;

/// <summary>Connects, runs one command body, and turns every expected failure into one line on stderr.</summary>
internal static class Cli
{
    public static async Task<int> RunAsync(ParseResult parse, bool signedIn, Func<PlandexClient, Task<int>> body, CancellationToken ct)
    {
        ServerAddress server;
        try { server = ServerAddress.Resolve(parse.GetValue(CliOptions.Server)); }
        catch (ArgumentException e) { return Fail(e.Message); }
        try
        {
            await using var client = await PlandexClient.ConnectAsync(new PlandexClientOptions { Server = server }, ct);
            return await body(client);
        }
        catch (ServerUnreachableException e) { return Fail(e.Message); }
        catch (OperationCanceledException) { return Fail("cancelled"); }
        catch (TimeoutException) { return Fail($"the server at {server} did not answer in time"); }
        catch (SiloUnavailableException) { return Fail($"the server at {server} became unavailable"); }
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"plandex: {message}");
        return 1;
    }
}
