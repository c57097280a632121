using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Accounts;

namespace Plandex.Grains.Security;

/// <summary>
/// Brute-force limits for typed secrets (sign-in codes, invite codes, the bootstrap secret). Every attempt first
/// reserves one failure per target (the account or invited email) and per source (the calling client connection)
/// in a fixed window shared by all silos; the reservation is atomic in the database, so parallel guesses cannot
/// exceed a limit. A successful attempt gives its reservations back; a failed one keeps them as its failure.
/// Once a limit is reached, attempts are refused without being checked (and change nothing) until the window ends.
/// </summary>
public sealed class FailureLimiter(AccountStore store, IOptions<AccountsOptions> options, TimeProvider time)
{
    public sealed record Reservation(string Kind, byte[] Target, byte[] Source);

    public async Task<Reservation> ReserveAsync(string kind, byte[] target)
    {
        var o = options.Value;
        var now = time.GetUtcNow();
        var windowStart = now - o.FailureWindow;
        var source = Source();
        if (!await store.TryReserveFailure(kind + ":target", target, now, windowStart, o.MaxFailuresPerTarget))
            throw Limited(o);
        if (!await store.TryReserveFailure(kind + ":source", source, now, windowStart, o.MaxFailuresPerSource))
        {
            await store.ReleaseFailure(kind + ":target", target);
            throw Limited(o);
        }
        return new Reservation(kind, target, source);
    }

    public async Task ReleaseAsync(Reservation r)
    {
        await store.ReleaseFailure(r.Kind + ":target", r.Target);
        await store.ReleaseFailure(r.Kind + ":source", r.Source);
    }

    private static AccessDeniedException Limited(AccountsOptions o) =>
        new($"too many failed attempts: try again in {o.FailureWindow.TotalMinutes:0} minutes");

    private static byte[] Source() =>
        SHA256.HashData(Encoding.UTF8.GetBytes(RequestContext.Get(AuthorizationFilter.SourceKey) as string ?? "unknown"));
}
