namespace Plandex.GrainInterfaces;

/// <summary>One account (key: account id). Client calls are allowed only for the caller's own account.</summary>
public interface IAccountGrain : IGrainWithGuidKey
{
    [ClientCallable] Task<AccountInfo> WhoAmI();
    [ClientCallable] Task<SignInCode> CreateSignInCode();
    /// <summary>Revokes the session this call was made with.</summary>
    [ClientCallable] Task SignOut();
    /// <returns>How many sessions were revoked.</returns>
    [ClientCallable] Task<int> RevokeAllSessions();
    /// <summary>
    /// Deletes the caller's account: every plan it owns, its memberships (an org left without an owner is deleted
    /// with its plans), sessions, sign-in codes, invites and personal data. Returns all deletion receipts.
    /// </summary>
    [ClientCallable] Task<IReadOnlyList<DeletionReceipt>> DeleteAccount();

    /// <summary>
    /// Joins the org of an invite made for this account's email (<c>plandex join</c>): how an existing account, one
    /// removed from an org or one invited to a second, becomes a member. The code is spent only if the join completes.
    /// </summary>
    [ClientCallable] Task<OrgMembership> JoinOrg(string inviteCode);

    // Internal (called by other grains only).
    Task Create(string email, string name, Guid orgId, OrgRole role);
    // An org calls these while it holds its own turn, and this account's deletion may be waiting on that org:
    // interleaved, neither waits for the other until Orleans' call timeout.
    [Orleans.Concurrency.AlwaysInterleave] Task AddMembership(Guid orgId, OrgRole role);
    [Orleans.Concurrency.AlwaysInterleave] Task RemoveMembership(Guid orgId);
    Task<AccountInfo?> Describe();
}
