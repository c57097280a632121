using Plandex.GrainInterfaces;
using Plandex.ProviderStub;

namespace Plandex.Tests.Streams;

/// <summary>
/// The plan's state write refused at a stream's start or end, while its message rows are written: the conversation
/// holds no message the plan did not record, the end is stored once when the database takes it again, and the plan
/// goes on working. (A refused message row at the start: <see cref="EarlyWatchTests"/>.)
/// </summary>
public sealed class StreamWriteFailureTests(OneSiloWorld world) : IClassFixture<OneSiloWorld>
{
    private readonly StreamWorld _w = world.World;

    // PostgreSQL refuses the plan grains' state writes, as a full disk or a lost connection would; rows of other
    // tables (the messages) are still written.
    private Task RefusePlanStateAsync() => _w.Db.ExecAsync("""
        CREATE OR REPLACE FUNCTION refuse_plan_state() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.graintypestring = 'plan' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse_plan_state BEFORE INSERT OR UPDATE ON orleansstorage FOR EACH ROW EXECUTE FUNCTION refuse_plan_state();
        """);

    private Task AcceptPlanStateAsync() => _w.Db.ExecAsync("DROP TRIGGER IF EXISTS refuse_plan_state ON orleansstorage");

    private Task<long> RowsAsync(Guid plan) => _w.Db.ScalarAsync<long>($"SELECT count(*) FROM plandex_plan_messages WHERE plan_id = '{plan}'");

    [Fact]
    public async Task An_end_the_database_refuses_reaches_watchers_once_stored_with_the_reply_stored_once()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=60-interval=20ms"); // about 1.2 s
        var events = await client.Streams.TellWatchingAsync(plan, "kept", _w.Endpoint, (byte[])_w.Key.Clone());
        Assert.Single(await client.Plan(plan).Conversation()); // the start is written
        var collected = events.ToListAsync().AsTask();
        try
        {
            await RefusePlanStateAsync();
            // The reply's row goes in, the plan's state does not: no end yet for the watcher.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (await RowsAsync(plan) < 2) { Assert.True(DateTime.UtcNow < deadline, "the reply's row never came"); await Task.Delay(50); }
            await Task.Delay(1500);
            Assert.False(collected.IsCompleted, "the watcher heard an end that was not stored");
        }
        finally { await AcceptPlanStateAsync(); }

        var list = await collected.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(StreamEventKind.Finished, list[^1].Kind);
        Assert.Equal(ProviderStubServer.ExpectedText(60), StreamWorld.Text(list));
        Assert.Equal(["user:kept", $"assistant:{ProviderStubServer.ExpectedText(60)}"],
            (await client.Plan(plan).Conversation()).Select(m => $"{m.Role}:{m.Content}"));
        var info = await client.Plan(plan).Describe();
        Assert.Equal((PlanStatus.Finished, 2), (info.Status, info.MessageCount));
        Assert.Equal(2, await RowsAsync(plan));
    }

    [Fact]
    public async Task A_start_whose_plan_state_is_refused_leaves_no_message_in_the_conversation_and_the_next_tell_works()
    {
        await using var client = await _w.ClientAsync();
        var plan = await _w.NewPlanAsync(client, "stub-tokens=60-interval=20ms");
        List<StreamEvent> list;
        try
        {
            await RefusePlanStateAsync();
            var events = await client.Streams.TellWatchingAsync(plan, "lost", _w.Endpoint, (byte[])_w.Key.Clone());
            var collected = events.ToListAsync().AsTask();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
            while (await RowsAsync(plan) < 1) { Assert.True(DateTime.UtcNow < deadline, "the prompt's row never came"); await Task.Delay(50); }
            await Task.Delay(1500);
            Assert.False(collected.IsCompleted, "the watcher heard an end that was not stored");
            await AcceptPlanStateAsync();
            list = await collected.WaitAsync(TimeSpan.FromSeconds(15));
        }
        finally { await AcceptPlanStateAsync(); }

        Assert.Equal(StreamEventKind.Error, list[^1].Kind);
        Assert.Contains("could not be recorded", list[^1].Text);
        // The prompt's row is there, but the plan never recorded it: it is no part of the conversation.
        Assert.Equal(1, await RowsAsync(plan));
        Assert.Empty(await client.Plan(plan).Conversation());

        var again = await client.Streams.TellWatchingAsync(plan, "again", _w.Endpoint, (byte[])_w.Key.Clone());
        var second = await again.ToListAsync();
        Assert.Equal(StreamEventKind.Finished, second[^1].Kind);
        Assert.Equal(["user:again", $"assistant:{ProviderStubServer.ExpectedText(60)}"],
            (await client.Plan(plan).Conversation()).Select(m => $"{m.Role}:{m.Content}"));
        Assert.Equal(2, (await client.Plan(plan).Describe()).MessageCount);
    }
}
