using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

internal sealed class OrgGrain(
    [PersistentState("org")] IPersistentState<OrgState> state,
    AccountStore store,
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
