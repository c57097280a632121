using System.Text;
using Plandex.GrainInterfaces;
using Plandex.Grains.Plans;

namespace Plandex.Tests.Streams;

/// <summary>The plan's in-memory log: what goes in comes back out, event by event, across its storage blocks.</summary>
public sealed class StreamLogTests
{
    [Fact]
    public void Every_event_reads_back_as_appended_across_block_boundaries_and_in_any_script()
    {
        var id = Guid.NewGuid();
        var pushed = new List<long>();
        var log = new StreamLog(id, l => pushed.Add(l.LastSeq));
        var rng = new Random(7);
        string[] pieces = ["t1 ", "é", "日本語", "🙂", "", "a\nb", new string('x', 3000), "ü🙂x"];
        var expected = new List<(StreamEventKind Kind, string? Text)> { (StreamEventKind.Started, null) };
        log.Add(StreamEventKind.Started);
        var reply = new StringBuilder();
        for (var i = 0; i < 1500; i++)
        {
            var text = pieces[rng.Next(pieces.Length)] + (i % 7 == 0 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) : "");
            log.Add(StreamEventKind.Chunk, text);
            expected.Add((StreamEventKind.Chunk, text));
            reply.Append(text);
        }
        log.Add(StreamEventKind.Error, "provider failed (500)");
        expected.Add((StreamEventKind.Error, "provider failed (500)"));
        log.Add(StreamEventKind.Chunk, "after the end"); // ignored: the stream ended

        Assert.Equal(expected.Count, log.LastSeq);
        Assert.True(log.Ended);
        Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), pushed);
        for (var seq = 1; seq <= expected.Count; seq++)
        {
            var e = log[seq];
            Assert.Equal(id, e.StreamId);
            Assert.Equal(seq, e.Seq);
            Assert.Equal(expected[seq - 1].Kind, e.Kind);
            Assert.Equal(expected[seq - 1].Text, e.Text);
        }
        Assert.True(log.HasReply);
        Assert.Equal(reply.ToString(), log.ReplyText());
        Assert.Throws<ArgumentOutOfRangeException>(() => log[expected.Count + 1]);
    }

    [Fact]
    public void A_log_without_text_has_no_reply()
    {
        var log = new StreamLog(Guid.NewGuid());
        log.Add(StreamEventKind.Started);
        log.Add(StreamEventKind.Chunk, "");
        log.Add(StreamEventKind.Finished);
        Assert.False(log.HasReply);
        Assert.Equal("", log.ReplyText());
        Assert.Equal("", log[2].Text);
        Assert.Null(log[3].Text);
    }
}
