using System.Net;
using System.Text.RegularExpressions;
using Npgsql;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Foundation;

/// <summary>
/// Promise 5: a self-hosted server sends data to no third party except the model provider the user chose. The silo
/// runs under strace, which records every <c>connect()</c> of the process from its first instruction to its exit,
/// while it starts, signs a user up, streams a tell from the provider stub, serves its dashboard and metrics, and
/// deletes the plan. Every connection it opened must be to PostgreSQL or to the provider; no name is looked up (a
/// DNS query would show as a connection to port 53). Sockets on the machine itself (AF_UNIX) are listed, not judged.
/// </summary>
public sealed partial class NoThirdPartyTests
{
    [Fact]
    public async Task A_silo_connects_to_its_database_and_the_chosen_provider_and_nothing_else()
    {
        var trace = Path.Combine(TestEnv.NewWorkDir("egress"), "connects.txt");
        int gateway, siloPort;
        string stubPort;
        await using (var w = await StreamWorld.StartAsync(traceConnectsTo: trace))
        {
            (gateway, siloPort, stubPort) = (w.Silos[0].GatewayPort, w.Silos[0].SiloPort, w.Stub.BaseUrl.Port.ToString());
            await using var client = await w.ClientAsync();
            var plan = await w.NewPlanAsync(client, "stub-tokens=50");
            await w.TellAsync(client, plan);
            Assert.Equal(StreamEventKind.Finished, (await StreamWorld.CollectAsync(client, plan))[^1].Kind);
            var page = await w.Silos[0].GetAsync("/dashboard");
            Assert.Contains("<html", page, StringComparison.OrdinalIgnoreCase);
            // Nor does the page send the operator's browser elsewhere (scripts, styles, fonts from a CDN).
            Assert.NotEmpty(Regex.Matches(page, @"(src|href)\s*="));
            Assert.DoesNotMatch(@"(src|href)\s*=\s*[""']?(https?:)?//", page);
            Assert.Contains("plandex_", await w.Silos[0].GetAsync("/metrics"));
            await client.Plan(plan).Delete();
        } // the silo stops here; strace ends with it and has written everything

        var pgPort = new NpgsqlConnectionStringBuilder(TestEnv.PgAdmin).Port.ToString();
        var connects = File.ReadAllLines(trace).Where(l => l.Contains(" connect(", StringComparison.Ordinal)).ToList();
        var inet = new List<(string Address, string Port)>();
        foreach (var line in connects)
        {
            if (Inet4().Match(line) is { Success: true } v4) inet.Add((v4.Groups["addr"].Value, v4.Groups["port"].Value));
            else if (Inet6().Match(line) is { Success: true } v6) inet.Add((v6.Groups["addr"].Value, v6.Groups["port"].Value));
            else Assert.True(line.Contains("AF_UNIX", StringComparison.Ordinal) || line.Contains("AF_UNSPEC", StringComparison.Ordinal) || line.Contains("AF_NETLINK", StringComparison.Ordinal),
                "a connect() this test cannot read: " + line);
        }
        var unix = connects.Where(l => l.Contains("AF_UNIX", StringComparison.Ordinal)).Select(l => UnixPath().Match(l).Value).Distinct().ToList();
        Console.WriteLine($"[measure] egress: {connects.Count} connect() calls; inet destinations: {string.Join(", ", inet.Distinct().Select(d => $"{d.Address}:{d.Port}"))}; unix: {string.Join(", ", unix)}");

        // The trace saw the work: the database and the provider (so a silent strace cannot pass this test).
        Assert.Contains(inet, d => d.Port == pgPort);
        Assert.Contains(inet, d => d.Port == stubPort);
        // And nothing else: loopback only, and only those two (a silo may also reach its own ports).
        var allowed = new HashSet<string> { pgPort, stubPort, gateway.ToString(), siloPort.ToString() };
        foreach (var (address, port) in inet)
        {
            var ip = IPAddress.Parse(address);
            Assert.True(IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip), $"the silo connected to {address}:{port}, which is not on this machine");
            Assert.True(allowed.Contains(port), $"the silo connected to {address}:{port}: neither PostgreSQL ({pgPort}) nor the provider ({stubPort})");
        }
    }

    // strace: {sa_family=AF_INET, sin_port=htons(5432), sin_addr=inet_addr("127.0.0.1")}
    [GeneratedRegex(@"sa_family=AF_INET, sin_port=htons\((?<port>\d+)\), sin_addr=inet_addr\(""(?<addr>[^""]+)""\)")]
    private static partial Regex Inet4();

    // strace: {sa_family=AF_INET6, sin6_port=htons(5432), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), ...}
    [GeneratedRegex(@"sa_family=AF_INET6, sin6_port=htons\((?<port>\d+)\).*?inet_pton\(AF_INET6, ""(?<addr>[^""]+)""")]
    private static partial Regex Inet6();

    [GeneratedRegex(@"sun_path=""[^""]*""")]
    private static partial Regex UnixPath();
}
