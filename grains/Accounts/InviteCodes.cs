using Plandex.GrainInterfaces;
using Plandex.Grains.Security;
using Plandex.Grains.Validation;

namespace Plandex.Grains.Accounts;

/// <summary>
/// Redeems an invite code, for a sign-up and for an existing account joining an org (one place for the code's
/// checks, its failure limit and its single-use claim).
/// </summary>
public sealed class InviteCodes(AccountStore store, FailureLimiter limiter, TimeProvider time)
{
    /// <summary>A claimed invite; <see cref="Undo"/> puts it back when what it was claimed for did not complete.</summary>
    public sealed record Claim(Guid OrgId, OrgRole Role, Func<Task> Undo);

    /// <summary>
    /// Claims the unused, unexpired invite with this code made for this email; a wrong code counts as a failure
    /// against the email and the caller's source (<see cref="FailureLimiter"/>).
    /// </summary>
    public async Task<Claim> RedeemAsync(string? inviteCode, EmailKeys keys)
    {
        var code = Input.Code(inviteCode, "invite code");
        var attempt = await limiter.ReserveAsync("invite-code", keys.Current);
        var codeHash = SecretTokens.HashCode(code);
        var invite = await store.RedeemInvite(codeHash, keys, time.GetUtcNow())
            ?? throw new AccessDeniedException("invite code is unknown, used, expired or for another email"); // the reservation stays: a failure
        await limiter.ReleaseAsync(attempt);
        return new(invite.OrgId, Enum.Parse<OrgRole>(invite.Role, ignoreCase: true), () => store.UnredeemInvite(codeHash));
    }
}
