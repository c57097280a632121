using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>Parallel guesses cannot get more checked attempts than the limit: the reservation is atomic.</summary>
public sealed class BruteForceRaceTests
{
    [Fact]
    public async Task Parallel_wrong_codes_get_exactly_the_limit_of_checked_attempts()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "bruteforce", new Dictionary<string, string>
        {
            ["Accounts:MaxFailuresPerTarget"] = "3",
            ["Accounts:MaxFailuresPerSource"] = "1000",
        });
        await using var anon = await silo.ConnectAsync();
        await anon.SignUpAsync(new SignUpRequest("race@example.com", "Race"));

        var clients = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => silo.ConnectAsync()));
        try
        {
            var guesses = Enumerable.Range(0, 24).Select(async i =>
            {
                try
                {
                    await clients[i % clients.Length].SignInWithCodeAsync("race@example.com", $"AAAA-BBBB-{i:D4}");
                    return "signed in";
                }
                catch (AccessDeniedException e) { return e.Message; }
            });
            var results = await Task.WhenAll(guesses);
            Assert.DoesNotContain("signed in", results);
            Assert.Equal(3, results.Count(r => r.StartsWith("sign-in code is unknown", StringComparison.Ordinal)));
            Assert.Equal(21, results.Count(r => r.StartsWith("too many failed attempts", StringComparison.Ordinal)));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }
}
