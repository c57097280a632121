using System.Diagnostics;
using Npgsql;
using Plandex.Client.Connection;
using Plandex.GrainInterfaces;
using Plandex.Tests.Infrastructure;
using Plandex.Tests.KeyHygiene;
using Plandex.Tests.Streams;

namespace Plandex.Tests.Deletion;

/// <summary>
/// Encryption at rest and live deletion, proven on the bytes PostgreSQL holds: a plain pg_dump of the database and
/// every file of the PostgreSQL data directory, WAL included. Content is readable through the API (the test is
/// real), yet no canary is ever in those bytes in the clear, before or after deletion; deleting removes the rows
/// and the data key at once. Ciphertext of deleted rows may linger in PostgreSQL's files: without the key, it is
/// noise.
/// </summary>
public sealed class EncryptionAtRestTests
{
    [Fact]
    public async Task Plan_content_is_never_plaintext_in_postgres_and_delete_plan_removes_rows_and_key()
    {
        await using var w = await StreamWorld.StartAsync();
        await using var client = await w.ClientAsync();
        var canary = CanaryScanner.NewCanary();
        var org = client.Org(w.Account.OrgId);

        // The canary in every kind of content a plan has: its name, settings (model, base URL), a context path and
        // body, the prompt. The stub's reply is fixed text ("t0 t1 ..."), so the reply cannot carry it.
        var plan = (await org.CreatePlan("plan " + canary)).PlanId;
        await client.Plan(plan).SetModel(new ModelSettings("openai", $"stub-{canary}-tokens=3", $"http://{canary}.invalid/v1"));
        var path = $"docs/{canary}/notes.txt";
        await client.Plan(plan).LoadContext([new ContextUpload(path, "secret notes " + canary)]);
        await w.TellAsync(client, plan, "prompt " + canary);
        var events = await StreamWorld.CollectAsync(client, plan);
        StreamWorld.AssertFinished(events);

        // Positive control: all of it is stored and readable through the API.
        Assert.Contains(await org.Plans(), p => p.PlanId == plan && p.Name.Contains(canary));
        var info = await client.Plan(plan).Describe();
        Assert.Contains(canary, info.Model.Model);
        Assert.Contains(canary, info.Model.BaseUrl);
        Assert.Contains(await client.Plan(plan).ContextItems(), i => i.Path == path);
        Assert.Contains(canary, await client.Plan(plan).ShowContext(path));
        var convo = await client.Plan(plan).Conversation();
        Assert.Contains(convo, m => m.Role == "user" && m.Content.Contains(canary));
        Assert.Contains(convo, m => m.Role == "assistant" && m.Content.Length > 0);

        // The plan's data key in the clear, computed here independently of the product's code. It really is the
        // key: it opens the stored prompt.
        var wrapped = await DataKeys.ReadWrappedAsync(w.Db, plan);
        Assert.NotNull(wrapped);
        var key = await DataKeys.UnwrapAsync(w.Db, plan);
        var prompt = convo.First(m => m.Role == "user");
        var storedPrompt = await w.Db.ScalarAsync<byte[]>($"SELECT content FROM plandex_plan_messages WHERE plan_id = '{plan}' AND seq = {prompt.Seq}");
        Assert.Contains(canary, DataKeys.OpenText(key, plan, $"message:{prompt.Seq}", storedPrompt!));

        var scanner = new SecretScanner().AddText("canary", canary).AddBytes("plan-key", key);
        var before = await scanner.ScanDatabaseAsync(w.Db);
        Console.WriteLine($"[measure] encryption at rest, before delete-plan: pg_dump {before.Dump}, data dir {before.DataDir} ({before.Files} files, {before.Bytes / 1_000_000} MB)");
        Assert.True(before.Files > 10 && before.Bytes > 1_000_000, "the data directory scan read nothing");
        Assert.Equal("0", before.Dump.ToString());
        Assert.Equal("0", before.DataDir.ToString());

        var messages = await w.Db.ScalarAsync<long>($"SELECT count(*) FROM plandex_plan_messages WHERE plan_id = '{plan}'");
        Assert.True(messages >= 2, $"{messages} messages stored");
        Assert.Equal(1L, await w.Db.ScalarAsync<long>($"SELECT count(*) FROM plandex_context_items WHERE plan_id = '{plan}'"));
        var liveStates = await LiveGrainStatesAsync(w.Db);

        var receipt = await client.Plan(plan).Delete();

        Assert.Equal(0L, await w.Db.ScalarAsync<long>($"SELECT count(*) FROM plandex_plan_messages WHERE plan_id = '{plan}'"));
        Assert.Equal(0L, await w.Db.ScalarAsync<long>($"SELECT count(*) FROM plandex_context_items WHERE plan_id = '{plan}'"));
        Assert.Null(await DataKeys.ReadWrappedAsync(w.Db, plan));
        // The plan's sealed grain state is gone (cleared or deleted); every other state (org, account) stays.
        var liveAfter = await LiveGrainStatesAsync(w.Db);
        Assert.Equal(liveStates - 1, liveAfter);

        Assert.Equal(TimeSpan.FromDays(7), receipt.PurgeDue - receipt.DeletedAt);
        Assert.Null(receipt.PurgedAt);
        await using (var conn = new NpgsqlConnection(w.Db.AdminConnectionString))
        {
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand(
                "SELECT kind, subject_id, deleted_at, purge_due, purged_at, key_epoch FROM plandex_deletion_receipts WHERE id = $1", conn);
            cmd.Parameters.Add(new NpgsqlParameter { Value = receipt.Id });
            await using var r = await cmd.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync(), "no receipt row");
            Assert.Equal("plan", r.GetString(0));
            Assert.Equal(plan, r.GetGuid(1));
            Assert.Equal(TimeSpan.FromDays(7), r.GetDateTime(3) - r.GetDateTime(2));
            Assert.True(r.IsDBNull(4), "purged at deletion time");
            Assert.Equal(wrapped.Value.Epoch, r.GetInt64(5));
        }
        Assert.DoesNotContain(await org.Plans(), p => p.PlanId == plan);

        var after = await scanner.ScanDatabaseAsync(w.Db);
        Console.WriteLine($"[measure] encryption at rest, after delete-plan: pg_dump {after.Dump}, data dir {after.DataDir} ({after.Files} files, {after.Bytes / 1_000_000} MB)");
        Assert.Equal("0", after.Dump.ToString());
        Assert.Equal("0", after.DataDir.ToString());

        // Positive control of the scans themselves: the same secrets written in the clear are found, in the dump
        // and in the data directory (so a product that stored plaintext would fail above).
        await w.Db.ExecAsync($"CREATE TABLE plx_control (t text); INSERT INTO plx_control VALUES ('{canary}'), ('{Convert.ToHexStringLower(key)}')");
        var control = await scanner.ScanDatabaseAsync(w.Db);
        Assert.True(control.Dump.ByForm.GetValueOrDefault("canary/utf8") > 0 && control.Dump.ByForm.GetValueOrDefault("plan-key/hex") > 0, $"dump: {control.Dump}");
        Assert.True(control.DataDir.ByForm.GetValueOrDefault("canary/utf8") > 0 && control.DataDir.ByForm.GetValueOrDefault("plan-key/hex") > 0, $"data dir: {control.DataDir}");
    }

    [Fact]
    public async Task Delete_account_takes_its_plans_its_sole_owned_org_and_its_personal_data()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "delete-account");
        await using var anonymous = await silo.ConnectAsync();
        var canaries = new Dictionary<string, string>();
        string Canary(string name) => canaries[name] = CanaryScanner.NewCanary();

        // Org A: Xavier is its only owner; Yara (member) has a plan there too. Org B: Zoe owns it; Walt is a member
        // with a plan, and Xavier joined it too (an invite accepted by his existing account) and has a plan there.
        // Xavier's deletion takes both rules at once (last owner of A: A goes with all its plans; member of B: only
        // his plan there); Walt's is a member's alone.
        var xEmail = Canary("x-email") + "@example.com";
        var x = await anonymous.SignUpAsync(new SignUpRequest(xEmail, "Xavier " + Canary("x-name")));
        await using var xc = await silo.ConnectAsync(x.Token);
        var yInvite = await xc.Org(x.OrgId).Invite("yara@example.com", OrgRole.Member);
        var y = await anonymous.SignUpAsync(new SignUpRequest("yara@example.com", "Yara", yInvite.Code));
        await using var yc = await silo.ConnectAsync(y.Token);
        var z = await anonymous.SignUpAsync(new SignUpRequest("zoe@example.com", "Zoe"));
        await using var zc = await silo.ConnectAsync(z.Token);
        var wEmail = Canary("w-email") + "@example.com";
        var wInvite = await zc.Org(z.OrgId).Invite(wEmail, OrgRole.Member);
        var wv = await anonymous.SignUpAsync(new SignUpRequest(wEmail, "Walt " + Canary("w-name"), wInvite.Code));
        await using var wc = await silo.ConnectAsync(wv.Token);
        var xbInvite = await zc.Org(z.OrgId).Invite(xEmail, OrgRole.Member);
        Assert.Equal(new OrgMembership(z.OrgId, "Zoe's org", OrgRole.Member), await xc.Account(x.AccountId).JoinOrg(xbInvite.Code));
        Assert.Equal(x.OrgId, y.OrgId);
        Assert.Equal(z.OrgId, wv.OrgId);

        async Task<Guid> Plan(PlandexClient c, Guid orgId, string name)
        {
            var p = (await c.Org(orgId).CreatePlan(name + " " + Canary(name + "-name"))).PlanId;
            await c.Plan(p).SetModel(new ModelSettings("openai", $"stub-{Canary(name + "-model")}-tokens=1"));
            await c.Plan(p).LoadContext([new ContextUpload($"src/{Canary(name + "-path")}.txt", "body " + Canary(name + "-body"))]);
            return p;
        }
        var px1 = await Plan(xc, x.OrgId, "px1");
        var px2 = await Plan(xc, x.OrgId, "px2");
        var py = await Plan(yc, x.OrgId, "py");
        var pw = await Plan(wc, z.OrgId, "pw");
        var pxb = await Plan(xc, z.OrgId, "pxb");
        var pz = (await zc.Org(z.OrgId).CreatePlan("zoe's plan")).PlanId;
        await zc.Plan(pz).LoadContext([new ContextUpload("keep.txt", "zoe keeps this")]);

        // Positive control: everything is readable before, and three orgs' worth of members see each other.
        Assert.Equal(3, (await xc.Org(x.OrgId).Plans()).Count);
        Assert.Equal(3, (await zc.Org(z.OrgId).Plans()).Count);
        Assert.Contains(await zc.Org(z.OrgId).Users(), u => u.Email == wEmail);
        Assert.Contains(await zc.Org(z.OrgId).Users(), u => u.Email == xEmail);
        Assert.Contains(await yc.Org(x.OrgId).Users(), u => u.Email == xEmail);
        Assert.Contains(canaries["x-name"], (await xc.Account(x.AccountId).WhoAmI()).Name);
        foreach (var (c, p, n) in new[] { (xc, px1, "px1"), (yc, py, "py"), (wc, pw, "pw"), (zc, pxb, "pxb") })
            Assert.Contains(canaries[n + "-body"], await c.Plan(p).ShowContext($"src/{canaries[n + "-path"]}.txt"));

        // Every data key that dies with the two accounts, in the clear.
        var doomed = new Dictionary<string, Guid>
        {
            ["x-account"] = x.AccountId, ["w-account"] = wv.AccountId, ["org-a"] = x.OrgId,
            ["px1"] = px1, ["px2"] = px2, ["py"] = py, ["pw"] = pw, ["pxb"] = pxb,
        };
        var scanner = new SecretScanner();
        foreach (var (name, c) in canaries) scanner.AddText(name, c);
        foreach (var (name, id) in doomed) scanner.AddBytes(name + "-key", await DataKeys.UnwrapAsync(db, id));

        var before = await scanner.ScanDatabaseAsync(db);
        Console.WriteLine($"[measure] delete-account, before: {scanner.Secrets} secrets; pg_dump {before.Dump}, data dir {before.DataDir} ({before.Files} files)");
        Assert.Equal("0", before.Dump.ToString());
        Assert.Equal("0", before.DataDir.ToString());

        var sw = Stopwatch.StartNew();
        var xReceipts = await xc.Account(x.AccountId).DeleteAccount();
        var wReceipts = await wc.Account(wv.AccountId).DeleteAccount();
        sw.Stop();

        Assert.Equal(new[] { "account", "org", "plan", "plan", "plan", "plan" }, xReceipts.Select(r => r.Kind).Order());
        Assert.Equal(new[] { px1, px2, py, pxb }.Order(), xReceipts.Where(r => r.Kind == "plan").Select(r => r.SubjectId).Order());
        Assert.Equal(new[] { "account", "plan" }, wReceipts.Select(r => r.Kind).Order());
        Assert.Equal(pw, wReceipts.Single(r => r.Kind == "plan").SubjectId);
        Assert.All(xReceipts.Concat(wReceipts), r => Assert.Equal(TimeSpan.FromDays(7), r.PurgeDue - r.DeletedAt));
        foreach (var (name, id) in doomed) Assert.True(await DataKeys.ReadWrappedAsync(db, id) is null, $"{name}'s data key is still in the database");

        // Org A is gone with Yara's plan (the documented rule); Yara herself stays, without it.
        var notMember = await Assert.ThrowsAsync<AccessDeniedException>(() => yc.Org(x.OrgId).Users());
        Assert.Contains("not a member", notMember.Message);
        Assert.DoesNotContain((await yc.Account(y.AccountId).WhoAmI()).Orgs, o => o.OrgId == x.OrgId);
        foreach (var p in new[] { px1, px2, py })
            await Assert.ThrowsAsync<AccessDeniedException>(() => yc.Plan(p).Describe());
        // Org B survives with Zoe's plan; neither Walt nor Xavier is listed or has a plan there.
        Assert.Equal(new[] { pz }, (await zc.Org(z.OrgId).Plans()).Select(p => p.PlanId));
        Assert.Equal("zoe keeps this", await zc.Plan(pz).ShowContext("keep.txt"));
        Assert.Equal(new[] { "zoe@example.com" }, (await zc.Org(z.OrgId).Users()).Select(u => u.Email));

        // The deleted accounts' sessions are refused, on the open connection and on a new one.
        foreach (var (c, id) in new[] { (xc, x.AccountId), (wc, wv.AccountId) })
        {
            var refused = await Assert.ThrowsAsync<AccessDeniedException>(() => c.Account(id).WhoAmI());
            Assert.Contains("session is invalid", refused.Message);
        }
        await using (var again = await silo.ConnectAsync(x.Token))
            await Assert.ThrowsAsync<AccessDeniedException>(() => again.Account(x.AccountId).WhoAmI());
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_sessions WHERE account_id IN ('{x.AccountId}', '{wv.AccountId}')"));
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_email_index WHERE account_id IN ('{x.AccountId}', '{wv.AccountId}')"));
        Assert.Equal(0L, await db.ScalarAsync<long>($"SELECT count(*) FROM plandex_invites WHERE created_by = '{x.AccountId}'"));

        var after = await scanner.ScanDatabaseAsync(db);
        Console.WriteLine($"[measure] delete-account: 2 accounts, 5 plans, 1 org in {sw.ElapsedMilliseconds} ms; after: pg_dump {after.Dump}, data dir {after.DataDir} ({after.Files} files)");
        Assert.Equal("0", after.Dump.ToString());
        Assert.Equal("0", after.DataDir.ToString());

        // The email is free again: a new account, not the old one back.
        var reborn = await anonymous.SignUpAsync(new SignUpRequest(xEmail, "Xavier again"));
        Assert.NotEqual(x.AccountId, reborn.AccountId);
        await using var rc = await silo.ConnectAsync(reborn.Token);
        Assert.Empty(await rc.Org(reborn.OrgId).Plans());
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Cli_delete_account_asks_for_the_email_and_deletes_with_yes()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var silo = await SiloProcess.StartAsync(db, "cli-delete");
        var config = Path.Combine(TestEnv.NewWorkDir("cli-delete"), "config");
        var session = Path.Combine(config, "session.json");

        var r = await Cli(silo, config, null, "sign-up", "--email", "dana@example.com", "--name", "Dana");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var token = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(session)).RootElement.GetProperty("Token").GetString()!;
        Assert.Equal(1L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index"));

        // A wrong confirmation (or none: end of input) refuses and changes nothing.
        var snapshot = await db.SnapshotAsync();
        foreach (var typed in new[] { "someone@example.com\n", "" })
        {
            r = await Cli(silo, config, typed, "delete-account");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("type the email to confirm", r.Stdout);
            Assert.Contains("not deleted", r.Stderr);
            Assert.True(File.Exists(session), "a refused delete-account signed out");
        }
        Assert.Equal(snapshot, await db.SnapshotAsync());
        Assert.Equal(0, (await Cli(silo, config, null, "whoami")).ExitCode);

        r = await Cli(silo, config, null, "delete-account", "--yes");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("deleted account dana@example.com", r.Stdout);
        Assert.Contains("signed out", r.Stdout);
        Assert.DoesNotContain("type the email", r.Stdout);
        Assert.False(File.Exists(session), "delete-account left the session file");
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index"));
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_sessions"));
        var whoami = await Cli(silo, config, null, "whoami");
        Assert.Equal(1, whoami.ExitCode);
        Assert.Contains("not signed in", whoami.Stderr);
        // The token the CLI had is dead server-side too, not only forgotten.
        await using var old = await silo.ConnectAsync(token);
        await Assert.ThrowsAsync<AccessDeniedException>(() => old.Account(Guid.Empty).WhoAmI());

        // Typing the right email (any case) deletes without --yes.
        r = await Cli(silo, config, null, "sign-up", "--email", "erin@example.com", "--name", "Erin");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        r = await Cli(silo, config, "Erin@Example.com\n", "delete-account");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("deleted account erin@example.com", r.Stdout);
        Assert.Equal(0L, await db.ScalarAsync<long>("SELECT count(*) FROM plandex_email_index"));
    }

    /// <summary>Sealed grain states that hold a payload (cleared ones keep a row with none, or no row).</summary>
    private static Task<long> LiveGrainStatesAsync(TestDatabase db) =>
        db.ScalarAsync<long>("SELECT count(*) FROM orleansstorage WHERE payloadbinary IS NOT NULL");

    /// <summary>Runs the CLI with its own config directory; <paramref name="stdin"/> is typed then input ends.</summary>
    private static async Task<ProcessResult> Cli(SiloProcess silo, string configDir, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(TestEnv.CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--server");
        psi.ArgumentList.Add($"127.0.0.1:{silo.GatewayPort}");
        psi.Environment["PLANDEX_CONFIG_DIR"] = configDir;
        psi.Environment["PLANDEX_CLUSTER_ID"] = "test";
        psi.Environment["PLANDEX_BOOTSTRAP_SECRET"] = "";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"plandex {string.Join(' ', args)} did not finish");
        }
        var result = new ProcessResult(p.ExitCode, await stdout, await stderr);
        Console.WriteLine($"plandex {string.Join(' ', args)} -> {result.ExitCode}\n{result.Stdout}{result.Stderr}");
        return result;
    }
}
