using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;
using Npgsql;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;

namespace Plandex.Benchmarks;

/// <summary>
/// Issue 7's two figures: re-wrapping N live data keys under a new epoch (the daily rotation; goal 100,000 in
/// ≤ 30 s) and deleting an account that owns N plans (goal 1,000 in ≤ 10 s), against a real PostgreSQL and a
/// Release silo started by <see cref="StreamHarness"/>; and the next day's whole rotation once M accounts need their
/// email lookup row in the new epoch (<c>--accounts</c>, 10,000).
/// </summary>
internal static class RetentionBenchmark
{
    public static int Run(string[] args)
    {
        int keys = 100_000, plans = 1_000, accounts = 10_000;
        var build = true;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--keys": keys = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--plans": plans = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--accounts": accounts = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--no-build": build = false; break;
                default: Console.Error.WriteLine($"retention: unknown option {args[i]}"); return 2;
            }
        }
        return RunAsync(keys, plans, accounts, build).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int keyCount, int planCount, int accountCount, bool build)
    {
        await using var h = new StreamHarness { Root = StreamHarness.FindRoot() };
        await h.StartAsync(build, 40, new Dictionary<string, string>());
        var (rewrap, rotation) = await RewrapAsync(h, keyCount, accountCount);
        var delete = await DeleteAccountAsync(h, planCount);
        Console.WriteLine();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, load {StreamHarness.LoadAverage()}");
        Console.WriteLine($"| re-wrap {keyCount:N0} data keys under a new epoch | {rewrap.TotalSeconds:0.00} s | goal ≤ 30 s for 100,000 |");
        Console.WriteLine($"| the whole rotation, with {accountCount:N0} accounts' email lookup rows added in the new epoch | {rotation.TotalSeconds:0.00} s | |");
        Console.WriteLine($"| delete an account owning {planCount:N0} plans | {delete.TotalSeconds:0.00} s | goal ≤ 10 s for 1,000 |");
        return 0;
    }

    private static async Task<(TimeSpan Rewrap, TimeSpan Rotation)> RewrapAsync(StreamHarness h, int count, int accounts)
    {
        await using var db = new NpgsqlDataSourceBuilder(h.ConnectionString + ";Maximum Pool Size=40").Build();
        var clock = new SettableClock(DateTimeOffset.UtcNow);
        var options = Options.Create(new RetentionOptions());
        using var ring = new KeyRing(db, new DirectoryEpochKeyStore(Path.Combine(h.KeyDirectory, "epochs")), clock, options);

        StreamHarness.Log($"create {count:N0} data keys (wrapped under today's epoch)");
        var sw = Stopwatch.StartNew();
        var next = 0;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= count)
                await ring.Use(DataSubject.Plan(Guid.NewGuid()), create: true, _ => 0);
        }));
        StreamHarness.Log($"created in {sw.Elapsed.TotalSeconds:0.0} s");

        ring.Dispose();

        // A fresh ring, as after a restart: nothing cached, the rotation pays for every unwrap.
        using var fresh = new KeyRing(db, new DirectoryEpochKeyStore(Path.Combine(h.KeyDirectory, "epochs")), clock, options);
        clock.Now += TimeSpan.FromDays(1);
        sw.Restart();
        var first = await new EpochRotation(fresh, new DeletionStore(db, fresh, clock, options), Emails(fresh), options).RunAsync(clock.Now);
        var took = sw.Elapsed;
        StreamHarness.Log($"rotation: {first.Rewrapped:N0} keys re-wrapped in {took.TotalSeconds:0.00} s");
        if (first.Rewrapped < count) throw new InvalidOperationException($"only {first.Rewrapped} of {count} keys were re-wrapped");

        // Accounts as a sign-up leaves them in the email index (their lookup rows do not matter: the new epoch has none).
        StreamHarness.Log($"create {accounts:N0} accounts' sealed email rows");
        var envelope = new Envelope(fresh);
        next = 0;
        sw.Restart();
        await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) is var n && n <= accounts)
            {
                var id = Guid.NewGuid();
                var sealedEmail = await envelope.Seal(DataSubject.Account(id), Plandex.Grains.Accounts.EmailEpochs.SealPurpose,
                    System.Text.Encoding.UTF8.GetBytes($"user{n}@example.com"), create: true);
                await using var insert = db.CreateCommand("INSERT INTO plandex_email_index (account_id, sealed_email) VALUES ($1, $2)");
                insert.Parameters.Add(new NpgsqlParameter { Value = id });
                insert.Parameters.Add(new NpgsqlParameter { Value = sealedEmail });
                await insert.ExecuteNonQueryAsync();
            }
        }));
        StreamHarness.Log($"created in {sw.Elapsed.TotalSeconds:0.0} s");

        // One epoch later, with the accounts: re-wrap every key again (the accounts' too), then add each account's lookup row.
        using var again = new KeyRing(db, new DirectoryEpochKeyStore(Path.Combine(h.KeyDirectory, "epochs")), clock, options);
        clock.Now += TimeSpan.FromDays(1);
        var rotation = new EpochRotation(again, new DeletionStore(db, again, clock, options), Emails(again), options);
        sw.Restart();
        var result = await rotation.RunAsync(clock.Now);
        var whole = sw.Elapsed;
        StreamHarness.Log($"rotation: {result.Rewrapped:N0} keys re-wrapped, {result.EmailRows:N0} email lookup rows added in {whole.TotalSeconds:0.00} s");
        if (result.EmailRows < accounts) throw new InvalidOperationException($"only {result.EmailRows} of {accounts} lookup rows were added");
        return (took, whole);

        Plandex.Grains.Accounts.EmailEpochs Emails(KeyRing r) => new(db, new Envelope(r), new Plandex.Grains.Security.EmailLookup(r,
            Options.Create(new Plandex.Grains.Security.SecurityOptions { KeyDirectory = h.KeyDirectory }), options, clock));
    }

    private static async Task<TimeSpan> DeleteAccountAsync(StreamHarness h, int planCount)
    {
        var gateway = new ServerAddress([new IPEndPoint(IPAddress.Loopback, h.SiloGatewayPort)]);
        SignInResult account;
        await using (var anon = await PlandexClient.ConnectAsync(new PlandexClientOptions { Server = gateway, ClusterId = h.ClusterId }))
            account = await anon.SignUpAsync(new SignUpRequest($"bench-{Guid.NewGuid():N}@example.com", "Bench"));
        await using var client = await PlandexClient.ConnectAsync(new PlandexClientOptions
        {
            Server = gateway, ClusterId = h.ClusterId, SessionToken = account.Token, ResponseTimeout = TimeSpan.FromMinutes(2),
        });

        StreamHarness.Log($"create {planCount:N0} plans, each with a context item");
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < planCount; i++)
        {
            var plan = await client.Org(account.OrgId).CreatePlan($"plan-{i:D5}");
            await client.Plan(plan.PlanId).LoadContext([new ContextUpload("notes.md", $"notes of plan {i}\n")]);
        }
        StreamHarness.Log($"created in {sw.Elapsed.TotalSeconds:0.0} s");

        sw.Restart();
        var receipts = await client.Account(account.AccountId).DeleteAccount();
        var took = sw.Elapsed;
        var plansDeleted = receipts.Count(r => r.Kind == "plan");
        StreamHarness.Log($"delete-account: {plansDeleted} plan receipts (+ org, account) in {took.TotalSeconds:0.00} s");
        if (plansDeleted != planCount) throw new InvalidOperationException($"{plansDeleted} of {planCount} plans were deleted");
        await using var db = new NpgsqlDataSourceBuilder(h.ConnectionString).Build();
        await using var left = db.CreateCommand("SELECT count(*) FROM plandex_context_items");
        if ((long)(await left.ExecuteScalarAsync())! != 0) throw new InvalidOperationException("context rows are left after the deletion");
        return took;
    }

    private sealed class SettableClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
