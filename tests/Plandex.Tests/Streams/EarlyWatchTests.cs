using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>
/// The fast start of a tell: the watch opened while Tell runs (WatchStream, TellWatchingAsync), and the start's
/// database writes done while the first tokens already flow.
/// </summary>
public sealed class EarlyWatchTests(OneSiloWorld world) : IClassFixture<OneSiloWorld>
{
    private readonly StreamWorld _w = world.World;

    [Fact]
    public async Task A_watch_opened_during_the_tell_gets_the_whole_stream_and_the_prompt_is_stored_by_then()
    {
        await using var client = await _w.ClientAsync();
        // 1.2 s of stream, so the read below normally lands while it runs (120 ms once proved too short on a busy VM).
        var plan = await _w.NewPlanAsync(client, "stub-tokens=60-interval=20ms");
        var events = await client.Streams.TellWatchingAsync(plan, "early", _w.Endpoint, (byte[])_w.Key.Clone());

        // The start's writes may still be in flight; a read of the conversation waits for them.
        // Should the machine stall past the stream's end, the reply is there too; the prompt must be first either way.
        var during = (await client.Plan(plan).Conversation()).Select(m => $"{m.Role}:{m.Content}").ToList();
        Assert.Equal("user:early", during[0]);
        Assert.True(during.Count == 1 || (during.Count == 2 && during[1] == $"assistant:{ProviderStubServer.ExpectedText(60)}"),
            string.Join(" | ", during));

        var list = new List<StreamEvent>();
        await foreach (var e in events) list.Add(e);
        Assert.Equal(StreamEventKind.Started, list.First(e => e.Kind != StreamEventKind.Heartbeat).Kind);
        Assert.Equal(StreamEventKind.Finished, list[^1].Kind);
        Assert.Equal(ProviderStubServer.ExpectedText(60), StreamWorld.Text(list));
        StreamWorld.AssertNoGapsNoDuplicates(list);

        var after = await client.Plan(plan).Conversation();
        Assert.Equal(["user:early", $"assistant:{ProviderStubServer.ExpectedText(60)}"], after.Select(m => $"{m.Role}:{m.Content}"));
        var info = await client.Plan(plan).Describe();
        Assert.Equal(PlanStatus.Finished, info.Status);
        Assert.Equal(2, info.MessageCount);
    }

    [Fact]
    public async Task A_tell_that_fails_throws_its_own_error_and_a_watch_of_an_unreserved_stream_ends_at_once()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=5");
        var empty = await Assert.ThrowsAsync<InvalidRequestException>(() =>
            client.Streams.TellWatchingAsync(plan, "  ", _w.Endpoint, (byte[])_w.Key.Clone()).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("prompt is empty", empty.Message);

        var stray = new List<StreamEvent>();
        await foreach (var e in client.Plan(plan).WatchStream(Guid.NewGuid()).WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token)) stray.Add(e);
        Assert.Empty(stray);

        // The plan is still usable.
        var events = await client.Streams.TellWatchingAsync(plan, "again", _w.Endpoint, (byte[])_w.Key.Clone());
        var list = new List<StreamEvent>();
        await foreach (var e in events) list.Add(e);
        Assert.Equal(StreamEventKind.Finished, list[^1].Kind);
    }

    [Fact]
    public async Task A_start_that_cannot_be_written_ends_the_stream_with_an_error_and_stores_no_reply()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=200-interval=5ms");
        // PostgreSQL refuses this plan's message rows, as a full disk or a lost connection would.
        await _w.Db.ExecAsync($"""
            CREATE FUNCTION refuse_messages() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.plan_id = '{plan}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER refuse_messages BEFORE INSERT ON plandex_plan_messages FOR EACH ROW EXECUTE FUNCTION refuse_messages();
            """);
        var events = await client.Streams.TellWatchingAsync(plan, "lost", _w.Endpoint, (byte[])_w.Key.Clone());
        var list = new List<StreamEvent>();
        await foreach (var e in events) list.Add(e);
        Assert.Equal(StreamEventKind.Error, list[^1].Kind);
        Assert.Contains("could not be recorded", list[^1].Text);
        Assert.True(StreamWorld.Text(list).Length < ProviderStubServer.ExpectedText(200).Length, "the stream must be stopped, not run to its end");

        Assert.Empty(await client.Plan(plan).Conversation());
        var info = await client.Plan(plan).Describe();
        Assert.Equal(PlanStatus.Error, info.Status);
        Assert.Equal(0, info.MessageCount);
        await _w.WaitSessionsGoneAsync(TimeSpan.FromSeconds(5));

        await _w.Db.ExecAsync("DROP TRIGGER refuse_messages ON plandex_plan_messages; DROP FUNCTION refuse_messages();");
        var retry = await client.Streams.TellWatchingAsync(plan, "again", _w.Endpoint, (byte[])_w.Key.Clone());
        var second = new List<StreamEvent>();
        await foreach (var e in retry) second.Add(e);
        Assert.Equal(StreamEventKind.Finished, second[^1].Kind);
        Assert.Equal(["user:again", $"assistant:{ProviderStubServer.ExpectedText(200)}"],
            (await client.Plan(plan).Conversation()).Select(m => $"{m.Role}:{m.Content}"));
    }
}
