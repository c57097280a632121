using System.Reflection;
using Microsoft.Extensions.Logging;
using Orleans.Serialization.Invocation;
using Plandex.GrainInterfaces;
using Plandex.Grains.Telemetry;

namespace Plandex.Grains.Security;

/// <summary>
/// The one place where client calls are authenticated and authorized, before any grain code runs.
/// Deny by default: a call from an external client reaches only interface methods marked
/// <see cref="ClientCallableAttribute"/>; everything else (internal grains, Orleans' management and system
/// interfaces) is refused. <c>IAsyncEnumerable</c> calls arrive as calls on Orleans' enumeration extension: the
/// first one carries the real method, which is checked like any other; continuations need a valid session.
/// Calls between grains inside the cluster are not filtered: identity set here flows with them. Which calls those are
/// is never taken from the sender a message names (a client can name any): only <see cref="ClusterCallSeal"/> says so.
/// </summary>
public sealed partial class AuthorizationFilter(SessionChecks sessions, ClusterCallSeal seal, ILogger<AuthorizationFilter> log)
    : IIncomingGrainCallFilter
{
    internal const string SourceKey = "plx-source";

    // Each method's rule, read once: reflection on every call was a visible share of the silo's time under load.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<MethodInfo, ClientCallableAttribute?> Rules = new();

    // Orleans system interfaces an external client must reach to work at all. Everything else is denied.
    private static readonly HashSet<string> ClientInfrastructure = ["Orleans.Runtime.IClusterManifestSystemTarget"];

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.SourceId is { } source && seal.FromCluster() && (!GrainTypePrefix.IsClient(source) || IsSiloHostedInfrastructureCall(source, context)))
        {
            await context.Invoke();
            return;
        }
        if (context.SourceId is { } runtime && !GrainTypePrefix.IsClient(runtime) && IsRuntimeTick(context))
        {
            // Orleans delivers reminder and timer ticks as calls without our seal. A forged reminder tick could only
            // run a rotation or an expiry check early (both idempotent); a timer tick is a local-only message whose
            // request holds the timer object itself, which no client can send.
            await context.Invoke();
            return;
        }
        ClusterCallSeal.Strip();

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
        // An earlier check of this session answers while the silo hears every ended session (SessionChecks); without
        // that, continuations (a tell's Tell and Subscribe, a watch's renewals and MoveNext) reuse one under a second old.
        var account = await sessions.CheckAsync(hash, continuation);
        if (account is null) Deny(context, "invalid-token", "your session is invalid, expired or revoked: sign in again");

        RequestContext.Set(AuthContextKeys.CallerAccount, account!.Value);
        RequestContext.Set(CallerContext.SessionKey, hash);
        await context.Invoke();
    }

    private static bool IsRuntimeTick(IIncomingGrainCallContext context)
    {
        var iface = context.Request.GetInterfaceType();
        return (iface == typeof(IRemindable) && context.MethodName == nameof(IRemindable.ReceiveReminder))
            || iface.FullName == "Orleans.Runtime.IGrainTimerInvoker";
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
