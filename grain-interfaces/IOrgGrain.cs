namespace Plandex.GrainInterfaces;

/// <summary>One org (key: org id): its members and roles, invites, and its plans.</summary>
public interface IOrgGrain : IGrainWithGuidKey
{
    [ClientCallable] Task<InviteCreated> Invite(string email, OrgRole role);
    // Always interleaved: it waits on each member's account, and an account joining this org waits on the org.
    [ClientCallable, Orleans.Concurrency.AlwaysInterleave] Task<IReadOnlyList<OrgMember>> Users();
    [ClientCallable] Task RemoveUser(Guid accountId);
    /// <summary>
    /// Changes a member's role (<c>plandex set-role</c>), for an owner or admin; making or unmaking an owner takes an
    /// owner, and the last owner cannot step down. Setting the role a member already has changes nothing.
    /// </summary>
    [ClientCallable] Task SetRole(Guid accountId, OrgRole role);
    /// <summary>The caller leaves this org (<c>plandex leave</c>); the last owner cannot. Their plans stay with the org.</summary>
    [ClientCallable] Task Leave();
    [ClientCallable] Task<PlanSummary> CreatePlan(string name);
    [ClientCallable] Task<IReadOnlyList<PlanSummary>> Plans();
    /// <summary>The org's plans that are streaming right now (<c>plandex ps</c>).</summary>
    [ClientCallable] Task<IReadOnlyList<ActiveStream>> ActiveStreams();
    /// <summary>
    /// Deletes a plan of this org that cannot be read (damaged data or key: its grain cannot activate, so
    /// <see cref="IPlanGrain.Delete"/> cannot reach it). The same rule: its owner or an org owner/admin. Refused for
    /// a plan that can be read.
    /// </summary>
    [ClientCallable] Task<DeletionReceipt> DeleteUnreadablePlan(Guid planId);
    /// <summary>Receipts of the org's deleted plans (<c>plandex deletions</c>).</summary>
    [ClientCallable] Task<IReadOnlyList<DeletionReceipt>> Deletions();

    // Internal.
    Task Create(string name, OrgMember owner);
    /// <summary>Adds or re-roles a member; refused for an org that does not exist (deleted meanwhile).</summary>
    Task AddMember(OrgMember member);
    // Read-only and always interleaved: plans ask the org for roles while the org may be waiting on them.
    [Orleans.Concurrency.AlwaysInterleave] Task<OrgRole?> RoleOf(Guid accountId);
    [Orleans.Concurrency.AlwaysInterleave] Task<string> Name();
    /// <summary>
    /// Erases one of the org's plans (<see cref="Plans.IPlanGrain.Delete"/> checked the caller) and drops it from the
    /// list; null if the org no longer lists it. In the org's queue, like an account deletion's erasures.
    /// </summary>
    Task<DeletionReceipt?> DeletePlan(Guid planId, Guid deletedBy);
    /// <summary>
    /// For an account deletion: erases the plans the account owns and its membership; if it was the org's last
    /// owner, erases the whole org with all its plans. Returns the receipts.
    /// </summary>
    Task<IReadOnlyList<DeletionReceipt>> RemoveAccount(Guid accountId);
}
