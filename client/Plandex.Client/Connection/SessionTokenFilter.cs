using Plandex.GrainInterfaces;

namespace Plandex.Client.Connection;

/// <summary>Puts the session token into every outgoing call's RequestContext (the silo's auth filter reads it).</summary>
internal sealed class SessionTokenFilter(SessionTokenFilter.Holder holder) : IOutgoingGrainCallFilter
{
    internal sealed record Holder(string? Token);

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (holder.Token is { } token) RequestContext.Set(AuthContextKeys.SessionToken, token);
        return context.Invoke();
    }
}
