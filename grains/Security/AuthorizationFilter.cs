using System.Reflection;
using Microsoft.Extensions.Logging;
using Orleans.Serialization.Invocation;
using Plandex.GrainInterfaces;
using Plandex.Grains.Accounts;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Security;

/// <summary>
/// The one place where client calls are authenticated and authorized, before any grain code runs.
/// Deny by default: a call from an external client reaches only interface methods marked
/// <see cref="ClientCallableAttribute"/>; everything else (internal grains, Orleans' management and system
/// interfaces) is refused. <c>IAsyncEnumerable</c> calls arrive as calls on Orleans' enumeration extension: the
/// first one carries the real method, which is checked like any other; continuations need a valid session.
/// Calls between grains inside the cluster are not filtered: identity set here flows with them.
/// </summary>
public sealed partial class AuthorizationFilter(AccountStore store, TimeProvider time, ILogger<AuthorizationFilter> log)
    : IIncomingGrainCallFilter
{
    internal const string SourceKey = "plx-source";

    // A watcher's enumeration sends one MoveNext per delivered batch (many per second per stream), a pushed watch
    // one Renew per second, and a tell's Tell and Subscribe follow its BeginTell within milliseconds. Those
    // continuations re-use a validation of the same session at most this old instead of a database round trip each
    // (for a tell: one round trip less before its first token, two of its three session checks): a revoked session's
    // running watch ends within this plus a heartbeat. Every other call, including BeginTell and the call that
    // starts an enumeration, always asks the database.
    internal static readonly TimeSpan ContinuationRecheck = TimeSpan.FromSeconds(1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (Guid Account, long CheckedAt)> _recent = new(StringComparer.Ordinal);

    // Each method's rule, read once: reflection on every call was a visible share of the silo's time under load.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<MethodInfo, ClientCallableAttribute?> Rules = new();

    // Orleans system interfaces an external client must reach to work at all. Everything else is denied.
    private static readonly HashSet<string> ClientInfrastructure = ["Orleans.Runtime.IClusterManifestSystemTarget"];

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.SourceId is { } source && (!GrainTypePrefix.IsClient(source) || IsSiloHostedInfrastructureCall(source, context)))
        {
            await context.Invoke();
            return;
        }

        // Identity comes only from this filter: drop whatever a client put under our keys, and keep the
        // token out of the context that flows on to other grains.
        var token = RequestContext.Get(AuthContextKeys.SessionToken) as string;
        RequestContext.Remove(AuthContextKeys.SessionToken);
        RequestContext.Remove(AuthContextKeys.CallerAccount);
        RequestContext.Remove(CallerContext.SessionKey);
        RequestContext.Remove(SourceKey);

        if (ClientInfrastructure.Contains(context.Request.GetInterfaceType().FullName ?? ""))
        {
            await context.Invoke(); // Orleans' own client bootstrap (type manifest): nothing of ours behind it
            return;
        }
        var (method, continuation) = TargetOf(context);
        var rule = method is null ? null : Rules.GetOrAdd(method, static m => m.GetCustomAttribute<ClientCallableAttribute>(inherit: true));
        if (rule is null && !continuation) Deny(context, "not-client-callable", "this call is not available to clients");
        continuation |= rule is { Continuation: true };
        RequestContext.Set(SourceKey, context.SourceId?.ToString() ?? "unknown");

        if (rule is { Anonymous: true })
        {
            await context.Invoke();
            return;
        }
        if (string.IsNullOrEmpty(token) || token.Length > 200) Deny(context, "no-token", "sign in first");
        var hash = SecretTokens.HashToken(token!);
        var cacheKey = Convert.ToBase64String(hash);
        Guid? account = null;
        if (continuation && _recent.TryGetValue(cacheKey, out var seen) && time.GetElapsedTime(seen.CheckedAt) < ContinuationRecheck)
            account = seen.Account;
        else
        {
            account = await store.ValidateSession(hash, time.GetUtcNow());
            if (account is null) { _recent.TryRemove(cacheKey, out _); Deny(context, "invalid-token", "your session is invalid, expired or revoked: sign in again"); }
            Remember(cacheKey, account!.Value);
        }

        RequestContext.Set(AuthContextKeys.CallerAccount, account!.Value);
        RequestContext.Set(CallerContext.SessionKey, hash);
        await context.Invoke();
    }

    private void Remember(string cacheKey, Guid account)
    {
        var now = time.GetTimestamp();
        _recent[cacheKey] = (account, now);
        if (_recent.Count <= 4096) return;
        foreach (var (k, v) in _recent) // bounded: drop what can no longer be used
            if (time.GetElapsedTime(v.CheckedAt, now) >= ContinuationRecheck) _recent.TryRemove(k, out _);
    }

    // The silo's own hosted client (used by the dashboard's HTTP handlers) calls Orleans and dashboard internals.
    // Those stay reachable for it; Plandex grains and the management grain still demand ClientCallable from it.
    private static bool IsSiloHostedInfrastructureCall(GrainId source, IIncomingGrainCallContext context)
    {
        if (!source.Key.ToString().StartsWith("hosted-", StringComparison.Ordinal)) return false;
        var iface = context.Request.GetInterfaceType();
        if (iface.Assembly == typeof(ClientCallableAttribute).Assembly)
            return context.InterfaceMethod?.GetCustomAttribute<SiloHostCallableAttribute>() is not null;
        return iface != typeof(IManagementGrain);
    }

    private static (MethodInfo? Method, bool Continuation) TargetOf(IIncomingGrainCallContext context)
    {
        if (context.Request.GetInterfaceType() == typeof(IAsyncEnumerableGrainExtension))
        {
            if (context.MethodName == nameof(IAsyncEnumerableGrainExtension.StartEnumeration))
            {
                for (var i = 0; i < context.Request.GetArgumentCount(); i++)
                    if (context.Request.GetArgument(i) is IInvokable inner) return (inner.GetMethod(), false);
                return (null, false);
            }
            return (null, true); // MoveNext / DisposeAsync of an enumeration this caller holds the id of
        }
        return (context.InterfaceMethod, false);
    }

    private void Deny(IIncomingGrainCallContext context, string reason, string message)
    {
        PlandexMetrics.AuthDenied.Add(1, new KeyValuePair<string, object?>("reason", reason));
        LogDenied(log, context.InterfaceName, context.MethodName, reason);
        throw new AccessDeniedException(message);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "denied client call {Interface}.{Method}: {Reason}")]
    private static partial void LogDenied(ILogger logger, string @interface, string method, string reason);
}
