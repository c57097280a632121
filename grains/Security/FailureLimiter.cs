using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Accounts;

namespace Plandex.Grains.Security;

/// <summary>
/// Brute-force limits for typed codes (sign-in codes, invite codes): failures are counted per target
/// (the account or invited email) and per source (the calling client connection) in a fixed window shared by
/// every silo. Once a limit is reached, further attempts fail without being checked until the window ends.
/// </summary>
public sealed class FailureLimiter(AccountStore store, IOptions<AccountsOptions> options, TimeProvider time)
{
    public async Task ThrowIfLimited(string kind, byte[] target)
    {
        var o = options.Value;
        var windowStart = time.GetUtcNow() - o.FailureWindow;
        if (await store.FailuresInWindow(kind + ":target", target, windowStart) >= o.MaxFailuresPerTarget
            || await store.FailuresInWindow(kind + ":source", Source(), windowStart) >= o.MaxFailuresPerSource)
            throw new AccessDeniedException($"too many failed attempts: try again in {o.FailureWindow.TotalMinutes:0} minutes");
    }

    public async Task RecordFailure(string kind, byte[] target)
    {
        var now = time.GetUtcNow();
        var windowStart = now - options.Value.FailureWindow;
        await store.RecordFailure(kind + ":target", target, now, windowStart);
        await store.RecordFailure(kind + ":source", Source(), now, windowStart);
    }

    private static byte[] Source() =>
        SHA256.HashData(Encoding.UTF8.GetBytes(RequestContext.Get(AuthorizationFilter.SourceKey) as string ?? "unknown"));
}
