using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

internal sealed class OrgGrain(
    [PersistentState("org")] IPersistentState<OrgState> state,
    AccountStore store,
    Plans.PlanStore plans,
    EmailHasher emails,
    IOptions<AccountsOptions> options,
    TimeProvider time) : Grain, IOrgGrain
{
    private Guid Id => this.GetPrimaryKey();

    public async Task<InviteCreated> Invite(string email, OrgRole role)
    {
        var caller = RequireRole(OrgRole.Admin);
        if (!Enum.IsDefined(role)) throw new InvalidRequestException("role must be owner, admin or member");
        if (role == OrgRole.Owner && caller.Role != OrgRole.Owner) throw new AccessDeniedException("only an owner can invite an owner");
        var normalized = EmailAddress.Normalize(email);
        if (state.State.Members.Any(m => m.Email == normalized)) throw new InvalidRequestException($"{normalized} is already a member");
        var code = SecretTokens.NewCode();
        var now = time.GetUtcNow();
        var expires = now + options.Value.InviteLifetime;
        await store.CreateInvite(SecretTokens.HashCode(code), Id, emails.Hash(normalized), role.ToString().ToLowerInvariant(),
            caller.AccountId, now, expires);
        return new InviteCreated(normalized, role, code, expires);
    }

    public Task<IReadOnlyList<OrgMember>> Users()
    {
        RequireRole(OrgRole.Member);
        return Task.FromResult<IReadOnlyList<OrgMember>>(state.State.Members.ToList());
    }

    public async Task RemoveUser(Guid accountId)
    {
        var caller = RequireRole(OrgRole.Admin);
        var target = state.State.Members.FirstOrDefault(m => m.AccountId == accountId)
            ?? throw new InvalidRequestException("no such member in this org");
        if (target.Role == OrgRole.Owner && caller.Role != OrgRole.Owner) throw new AccessDeniedException("only an owner can remove an owner");
        if (target.Role == OrgRole.Owner && state.State.Members.Count(m => m.Role == OrgRole.Owner) == 1)
            throw new InvalidRequestException("cannot remove the org's last owner");
        state.State.Members.Remove(target);
        await state.WriteStateAsync();
        await GrainFactory.GetGrain<IAccountGrain>(accountId).RemoveMembership(Id);
    }

    public async Task<PlanSummary> CreatePlan(string name)
    {
        var caller = RequireRole(OrgRole.Member);
        var planName = Validation.Input.Name(name, "plan name");
        if (state.State.Plans.Any(p => p.Name == planName)) throw new InvalidRequestException($"a plan named '{planName}' already exists in this org");
        var plan = new PlanSummary(Guid.NewGuid(), planName, caller.AccountId, time.GetUtcNow());
        await GrainFactory.GetGrain<IPlanGrain>(plan.PlanId).Create(Id, caller.AccountId, planName);
        state.State.Plans.Add(plan);
        await state.WriteStateAsync();
        return plan;
    }

    public Task<IReadOnlyList<PlanSummary>> Plans()
    {
        RequireRole(OrgRole.Member);
        return Task.FromResult<IReadOnlyList<PlanSummary>>(state.State.Plans.ToList());
    }

    public async Task<IReadOnlyList<ActiveStream>> ActiveStreams()
    {
        RequireRole(OrgRole.Member);
        var infos = await Task.WhenAll(state.State.Plans.Select(p => GrainFactory.GetGrain<IPlanGrain>(p.PlanId).Describe()));
        return infos.Where(i => i.Status == PlanStatus.Streaming && i.ActiveStreamId is not null)
            .Select(i => new ActiveStream(i.PlanId, i.Name, i.ActiveStreamId!.Value, i.StreamStartedBy ?? i.OwnerId, i.StreamStartedAt ?? DateTimeOffset.MinValue))
            .ToList();
    }

    public async Task<IReadOnlyList<DeletionReceipt>> Deletions()
    {
        RequireRole(OrgRole.Member);
        return await plans.Receipts(Id);
    }

    public async Task RemovePlan(Guid planId)
    {
        if (state.State.Plans.RemoveAll(p => p.PlanId == planId) > 0) await state.WriteStateAsync();
    }

    public async Task Create(string name, OrgMember owner)
    {
        if (state.RecordExists) throw new InvalidOperationException("org exists");
        state.State = new OrgState { Name = name, CreatedAt = time.GetUtcNow(), Members = [owner] };
        await state.WriteStateAsync();
    }

    public async Task AddMember(OrgMember member)
    {
        state.State.Members.RemoveAll(m => m.AccountId == member.AccountId);
        state.State.Members.Add(member);
        await state.WriteStateAsync();
    }

    public Task<OrgRole?> RoleOf(Guid accountId) =>
        Task.FromResult(state.State.Members.FirstOrDefault(m => m.AccountId == accountId)?.Role);

    public Task<string> Name() => Task.FromResult(state.State.Name);

    private OrgMember RequireRole(OrgRole least)
    {
        var caller = CallerContext.RequireAccount();
        var member = state.State.Members.FirstOrDefault(m => m.AccountId == caller)
            ?? throw new AccessDeniedException("you are not a member of this org");
        if (member.Role < least) throw new AccessDeniedException($"this needs the {least.ToString().ToLowerInvariant()} role");
        return member;
    }
}
