using System.Threading.Channels;
using Plandex.GrainInterfaces;

namespace Plandex.Client.Streams;

/// <summary>
/// The client end of a pushed watch: the plan's one-way pushes land here, in arrival order, for the watch loop to
/// put in sequence. Orleans keeps only a weak reference to an observer: the watch holds this object while it runs.
/// </summary>
internal sealed class StreamReceiver : IStreamObserver
{
    private readonly Channel<StreamEvent[]> _arrived =
        Channel.CreateUnbounded<StreamEvent[]>(new UnboundedChannelOptions { SingleReader = true });

    public ChannelReader<StreamEvent[]> Arrived => _arrived.Reader;

    public Task OnEvents(StreamEvent[] events)
    {
        if (events is { Length: > 0 }) _arrived.Writer.TryWrite(events);
        return Task.CompletedTask;
    }
}
