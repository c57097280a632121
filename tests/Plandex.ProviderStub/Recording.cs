namespace Plandex.ProviderStub;

public enum StubProvider { Unknown, OpenAI, Anthropic }

public enum RequestOutcome
{
    InProgress,
    /// <summary>Full reply sent (stream ended with [DONE] / message_stop).</summary>
    Completed,
    /// <summary>Answered with an HTTP error (fault, bad auth, bad request).</summary>
    Error,
    /// <summary>The client closed the connection before the reply ended.</summary>
    ClientDisconnected,
    /// <summary>The stub aborted the connection on purpose (<see cref="StubFault.Drop"/>).</summary>
    Dropped,
    /// <summary>The stub was shut down while the reply was still running.</summary>
    ServerStopped,
}

public sealed record RecordedMessage(string Role, string Content);

/// <summary>
/// One request as the stub saw it. Holds only a SHA-256 of the credential, never the credential itself.
/// Fields that change while a stream runs are read with volatile semantics; await <see cref="Finished"/>
/// before asserting on the final outcome.
/// </summary>
public sealed class RecordedRequest
{
    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _tokensSent;
    private int _outcome;
    private int _statusCode;
    private long _endTicks;

    internal RecordedRequest(DateTimeOffset time, string path, StubProvider provider)
    {
        Time = time;
        Path = path;
        Provider = provider;
    }

    public DateTimeOffset Time { get; }
    public string Path { get; }
    public StubProvider Provider { get; }
    public string? Model { get; internal set; }
    /// <summary>Kestrel's id of the TCP connection the request came on (tests of connection reuse).</summary>
    public string? ConnectionId { get; internal set; }
    public bool Stream { get; internal set; }
    /// <summary>Lowercase hex SHA-256 of the Bearer token / x-api-key value; null if none was sent.</summary>
    public string? CredentialSha256 { get; internal set; }
    public IReadOnlyList<RecordedMessage> Messages { get; internal set; } = [];
    public int StatusCode => Volatile.Read(ref _statusCode);
    public int TokensSent => Volatile.Read(ref _tokensSent);
    public RequestOutcome Outcome => (RequestOutcome)Volatile.Read(ref _outcome);
    public bool ClientDisconnected => Outcome == RequestOutcome.ClientDisconnected;
    public DateTimeOffset? EndTime
    {
        get
        {
            var t = Interlocked.Read(ref _endTicks);
            return t == 0 ? null : new DateTimeOffset(t, TimeSpan.Zero);
        }
    }
    /// <summary>Completes when the stub has finished handling the request (any outcome).</summary>
    public Task Finished => _finished.Task;

    internal void SetStatus(int status) => Volatile.Write(ref _statusCode, status);
    internal void TokenSent() => Volatile.Write(ref _tokensSent, _tokensSent + 1); // single writer: the handler

    internal void Finish(RequestOutcome outcome)
    {
        // First outcome wins: e.g. a drop must not be relabelled when the aborted write later fails.
        if (Interlocked.CompareExchange(ref _outcome, (int)outcome, (int)RequestOutcome.InProgress) != (int)RequestOutcome.InProgress)
            return;
        Interlocked.Exchange(ref _endTicks, DateTimeOffset.UtcNow.UtcTicks);
        _finished.TrySetResult();
    }
}
