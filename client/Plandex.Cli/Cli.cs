using System.CommandLine;
using Plandex.Client.Connection;
using Plandex.Client.Sessions;
using Plandex.GrainInterfaces;

namespace Plandex.Cli;

/// <summary>What a command body gets: a connected client and, for signed-in commands, the stored session.</summary>
internal sealed record CliContext(PlandexClient Client, StoredSession? Session)
{
    public StoredSession RequireSession => Session ?? throw new InvalidOperationException("no session");
}

/// <summary>Connects, runs one command body, and turns every expected failure into one line on stderr.</summary>
internal static class Cli
{
    public static async Task<int> RunAsync(ParseResult parse, bool signedIn, Func<CliContext, Task<int>> body, CancellationToken ct)
    {
        var session = SessionFile.Load();
        if (signedIn && session is null) return Fail("not signed in: run `plandex sign-up` or `plandex sign-in` first");
        ServerAddress server;
        var option = parse.GetValue(CliOptions.Server);
        try { server = ServerAddress.Resolve(option ?? (signedIn ? session?.Server : null)); }
        catch (ArgumentException e) { return Fail(e.Message); }
        if (signedIn && option is null && session?.Server is { } stored) NoteIgnoredServerVariable(stored);
        try
        {
            var options = new PlandexClientOptions { Server = server, SessionToken = signedIn ? session?.Token : null };
            await using var client = await PlandexClient.ConnectAsync(options, ct);
            return await body(new CliContext(client, signedIn ? session : null));
        }
        catch (ServerUnreachableException e) { return Fail(e.Message); }
        catch (ArgumentException e) when (e.Message.StartsWith("PLANDEX_", StringComparison.Ordinal)) { return Fail(e.Message); } // PLANDEX_TLS, PLANDEX_CA_FILE
        catch (AccessDeniedException e) { return Fail(e.Message); }
        catch (InvalidRequestException e) { return Fail(e.Message); }
        catch (OperationCanceledException) { return Fail("cancelled"); }
        catch (TimeoutException) { return Fail($"the server at {server} did not answer in time"); }
        catch (SiloUnavailableException) { return Fail($"the server at {server} became unavailable"); }
        catch (KeyDestroyedException e) { return Fail(e.Message); }
        catch (UnreadableDataException e) { return Fail(e.Message); }   // names the grain whose state cannot be read
        catch (DatabaseFailureException e) { return Fail(e.Message); } // names the grain the database failed
        catch (OrleansException e) { return Fail(ServerFailure(e)); }
        catch (System.Security.Cryptography.CryptographicException e) { return Fail(ServerFailure(e)); } // a grain read damaged data
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return Fail(e.Message); } // local files, the connection
        // Anything else is a fault no rule above knows: still one line and no stack trace, and only the type, since a
        // message from outside this code could carry anything.
        catch (Exception e) when (e is not OutOfMemoryException) { return Fail($"the command stopped on an unexpected error ({e.GetType().Name})"); }
    }

    /// <summary>
    /// One line for a failure inside the server. Orleans' own messages can carry the server's stack traces (a
    /// storage failure during activation does), which are neither for users nor one line.
    /// </summary>
    private static string ServerFailure(Exception e) => IsUnreadable(e)
        ? "the server cannot read this data: it is damaged or its key is gone (its operator can see which in the silo's log)"
        : "the server could not complete the request (its operator can see why in the silo's log)";

    /// <summary>The server failed because stored data cannot be decrypted (Orleans wraps it when a grain cannot activate).</summary>
    public static bool IsUnreadable(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is UnreadableDataException or System.Security.Cryptography.CryptographicException or KeyDestroyedException) return true;
        return false;
    }

    /// <summary>The session's current plan; a missing one is a one-line error.</summary>
    public static Guid CurrentPlan(CliContext c) =>
        c.RequireSession.CurrentPlan ?? throw new InvalidRequestException("no current plan: run `plandex new` or `plandex cd PLAN`");

    /// <summary>
    /// A session talks to the server it signed in on, so its token never goes to a server that did not issue it (only
    /// <c>--server</c> overrides that). Says so when <c>PLANDEX_SERVER</c> names another, which would otherwise be
    /// ignored without a word.
    /// </summary>
    private static void NoteIgnoredServerVariable(string stored)
    {
        var variable = Environment.GetEnvironmentVariable(ServerAddress.EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(variable) || Compact(variable) == Compact(stored)) return;
        Console.Error.WriteLine($"plandex: note: using {stored}, the server this device signed in on, not {ServerAddress.EnvironmentVariable} ({variable.Trim()}); --server overrides it");

        static string Compact(string s) => string.Concat(s.Where(c => !char.IsWhiteSpace(c)));
    }

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"plandex: {message}");
        return 1;
    }
}
