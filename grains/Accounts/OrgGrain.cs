using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Cluster;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

internal sealed partial class OrgGrain(
    [PersistentState("org")] IPersistentState<OrgState> state,
    AccountStore store,
    DeletionStore deletions,
    Plans.PlanStore plans,
    StateSweeper sweeper,
    Envelope envelope,
    EmailLookup emails,
    IOptions<AccountsOptions> options,
    TimeProvider time,
    ILogger<OrgGrain> log) : Grain, IOrgGrain
{
    private const string PlanNamePurpose = "plan-name";
    private const string OrgNamePurpose = "org-name";
    private const int EraseParallelism = 32;

    // Volatile state: not persisted; gone on deactivation. Plan names opened from their sealed form.
    private readonly Dictionary<Guid, string> _names = [];

    // Volatile state: not persisted; gone on deactivation. The org's name opened from its sealed form.
    private string? _name;

    private Guid Id => this.GetPrimaryKey();

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary>What an org is called once the account that named it is deleted (or for an org that does not exist).</summary>
    private string Unnamed => "org " + Id.ToString("N")[..8];

    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        DatabaseFailures.Activating(log, this.GetGrainId(), () => SealLegacyName(cancellationToken));

    private async Task SealLegacyName(CancellationToken cancellationToken)
    {
        // State written before the name was sealed under its creator's key: seal it under the first owner's (the
        // creator, unless they left) so it is shredded with that account.
        if (state.RecordExists && state.State.LegacyName.Length > 0 && state.State.SealedName is null)
        {
            var namer = state.State.Members.FirstOrDefault(m => m.Role == OrgRole.Owner)?.AccountId;
            try
            {
                if (namer is { } id) (state.State.SealedName, state.State.NamedBy) = (await SealName(id, state.State.LegacyName), id);
            }
            catch (KeyDestroyedException) { }
            state.State.LegacyName = "";
            await state.WriteStateAsync(cancellationToken);
        }
    }

    public async Task<InviteCreated> Invite(string email, OrgRole role)
    {
        var caller = RequireRole(OrgRole.Admin);
        if (!Enum.IsDefined(role)) throw new InvalidRequestException("role must be owner, admin or member");
        if (role == OrgRole.Owner && caller.Role != OrgRole.Owner) throw new AccessDeniedException("only an owner can invite an owner");
        var normalized = EmailAddress.Normalize(email);
        var keys = emails.Keys(normalized);
        if (await store.FindAccountByEmail(keys) is { } existing && state.State.Members.Any(m => m.AccountId == existing))
            throw new InvalidRequestException($"{normalized} is already a member");
        var code = SecretTokens.NewCode();
        var now = time.GetUtcNow();
        // The invite names its email by the current epoch's value, which can be checked only until that epoch's key
        // is destroyed: an invite made late in an epoch ends up to one epoch (a day) short of its lifetime.
        var expires = Min(now + options.Value.InviteLifetime, emails.UsableUntil(keys.CurrentEpoch));
        await store.CreateInvite(SecretTokens.HashCode(code), Id, keys.CurrentEpoch, keys.Current, role.ToString().ToLowerInvariant(), caller.AccountId, now, expires);
        return new InviteCreated(normalized, role, code, expires);
    }

    public async Task<IReadOnlyList<OrgMember>> Users()
    {
        RequireRole(OrgRole.Member);
        var members = state.State.Members.ToList();
        var infos = await Task.WhenAll(members.Select(m => GrainFactory.GetGrain<IAccountGrain>(m.AccountId).Describe()));
        return members.Zip(infos).Where(p => p.Second is not null)
            .Select(p => new OrgMember(p.First.AccountId, p.Second!.Email, p.Second.Name, p.First.Role)).ToList();
    }

    public async Task RemoveUser(Guid accountId)
    {
        var caller = RequireRole(OrgRole.Admin);
        var target = state.State.Members.FirstOrDefault(m => m.AccountId == accountId)
            ?? throw new InvalidRequestException("no such member in this org");
        if (target.Role == OrgRole.Owner && caller.Role != OrgRole.Owner) throw new AccessDeniedException("only an owner can remove an owner");
        await RemoveMemberAsync(target);
    }

    public Task Leave() => RemoveMemberAsync(RequireRole(OrgRole.Member));

    public async Task SetRole(Guid accountId, OrgRole role)
    {
        var caller = RequireRole(OrgRole.Admin);
        if (!Enum.IsDefined(role)) throw new InvalidRequestException("role must be owner, admin or member");
        var target = state.State.Members.FirstOrDefault(m => m.AccountId == accountId)
            ?? throw new InvalidRequestException("no such member in this org");
        if (target.Role == role) return;
        // Owners are made and unmade by owners only, as they are invited and removed.
        if ((role == OrgRole.Owner || target.Role == OrgRole.Owner) && caller.Role != OrgRole.Owner)
            throw new AccessDeniedException("only an owner can make or unmake an owner");
        if (target.Role == OrgRole.Owner && state.State.Members.Count(m => m.Role == OrgRole.Owner) == 1)
            throw new InvalidRequestException("the org's last owner cannot step down: make another member owner first");
        var index = state.State.Members.IndexOf(target);
        await ChangeListsAsync(() => state.State.Members[index] = target with { Role = role });
        try
        {
            // The org's list decides what a member may do; the account's copy is what whoami shows.
            await GrainFactory.GetGrain<IAccountGrain>(accountId).AddMembership(Id, role);
        }
        catch
        {
            try { await ChangeListsAsync(() => state.State.Members[index] = target); }
            catch (Exception e) { LogUndoFailed(log, Id, e.GetType().Name); }
            throw;
        }
        LogRoleSet(log, accountId, Id, role, caller.AccountId);
    }

    /// <summary>A member removed or leaving: the plans they own stay with the org, whose owners and admins can delete them.</summary>
    private async Task RemoveMemberAsync(MemberEntry target)
    {
        if (target.Role == OrgRole.Owner && state.State.Members.Count(m => m.Role == OrgRole.Owner) == 1)
            throw new InvalidRequestException("cannot remove the org's last owner");
        await ChangeListsAsync(() => state.State.Members.Remove(target));
        await DropFromAccountAsync(target.AccountId);
    }

    /// <summary>
    /// Takes this org off a former member's account. The org's list has already let them go and decides; the copy is
    /// what whoami shows, and whoami leaves out an org that does not list the account, so a copy left behind is
    /// logged, not made the removal's failure.
    /// </summary>
    private async Task DropFromAccountAsync(Guid accountId)
    {
        try { await GrainFactory.GetGrain<IAccountGrain>(accountId).RemoveMembership(Id); }
        catch (Exception e) { LogCopyLeft(log, Id, accountId, e.GetType().Name); }
    }

    public async Task<PlanSummary> CreatePlan(string name)
    {
        var caller = RequireRole(OrgRole.Member);
        var planName = Validation.Input.Name(name, "plan name");
        if ((await PlanNamesAsync()).Values.Contains(planName, StringComparer.Ordinal))
            throw new InvalidRequestException($"a plan named '{planName}' already exists in this org");
        var plan = new PlanSummary(Guid.NewGuid(), planName, caller.AccountId, time.GetUtcNow());
        await GrainFactory.GetGrain<IPlanGrain>(plan.PlanId).Create(Id, caller.AccountId, planName);
        // The org keeps the name sealed under the plan's key: deleting the plan shreds it here too.
        var sealedName = await envelope.SealText(DataSubject.Plan(plan.PlanId), PlanNamePurpose, planName);
        await ChangeListsAsync(() => state.State.Plans.Add(new PlanEntry(plan.PlanId, sealedName, plan.OwnerId, plan.CreatedAt)));
        _names[plan.PlanId] = planName;
        return plan;
    }

    public async Task<IReadOnlyList<PlanSummary>> Plans()
    {
        RequireRole(OrgRole.Member);
        var names = await PlanNamesAsync();
        return state.State.Plans.Where(p => names.ContainsKey(p.PlanId))
            .Select(p => new PlanSummary(p.PlanId, names[p.PlanId], p.OwnerId, p.CreatedAt)).ToList();
    }

    public async Task<IReadOnlyList<ActiveStream>> ActiveStreams()
    {
        RequireRole(OrgRole.Member);
        var infos = (await Task.WhenAll(state.State.Plans.Select(p => DescribeIfReadableAsync(p.PlanId)))).OfType<PlanInfo>();
        return infos.Where(i => i.Status == PlanStatus.Streaming && i.ActiveStreamId is not null)
            .Select(i => new ActiveStream(i.PlanId, i.Name, i.ActiveStreamId!.Value, i.StreamStartedBy ?? i.OwnerId, i.StreamStartedAt ?? DateTimeOffset.MinValue))
            .ToList();
    }

    public async Task<IReadOnlyList<DeletionReceipt>> Deletions()
    {
        RequireRole(OrgRole.Member);
        return await deletions.ForOrgAsync(Id);
    }

    public async Task<DeletionReceipt?> DeletePlan(Guid planId, Guid deletedBy)
    {
        if (!state.State.Plans.Any(p => p.PlanId == planId)) return null;
        var receipt = await GrainFactory.GetGrain<IPlanGrain>(planId).Erase(deletedBy);
        await RemovePlan(planId);
        return receipt;
    }

    private async Task RemovePlan(Guid planId)
    {
        _names.Remove(planId);
        if (state.State.Plans.Any(p => p.PlanId == planId)) await ChangeListsAsync(() => state.State.Plans.RemoveAll(p => p.PlanId == planId));
    }

    public async Task<IReadOnlyList<DeletionReceipt>> RemoveAccount(Guid accountId)
    {
        var member = state.State.Members.FirstOrDefault(m => m.AccountId == accountId);
        if (member is null || !state.RecordExists) return [];
        // The rule: an org whose last owner leaves is deleted with all its plans; otherwise only the plans the
        // account owns go, and the org keeps the rest.
        var lastOwner = member.Role == OrgRole.Owner && state.State.Members.Count(m => m.Role == OrgRole.Owner) == 1;
        var doomed = state.State.Plans.Where(p => lastOwner || p.OwnerId == accountId).Select(p => p.PlanId).ToList();
        var receipts = new List<DeletionReceipt>();
        foreach (var chunk in doomed.Chunk(EraseParallelism))
        {
            var erased = await Task.WhenAll(chunk.Select(id => ErasePlanAsync(id, accountId)));
            receipts.AddRange(erased.OfType<DeletionReceipt>());
        }
        var gone = doomed.ToHashSet();
        state.State.Plans.RemoveAll(p => gone.Contains(p.PlanId));
        foreach (var id in gone) _names.Remove(id);

        if (!lastOwner)
        {
            state.State.Members.Remove(member);
            if (state.State.NamedBy == accountId)
            {
                // Named after the account being deleted: its key goes with it, so the name goes now too.
                state.State.SealedName = null;
                _name = null;
            }
            await state.WriteStateAsync();
            return receipts;
        }

        var others = state.State.Members.Where(m => m.AccountId != accountId).Select(m => m.AccountId).ToList();
        await Task.WhenAll(others.Select(DropFromAccountAsync));
        var receipt = deletions.NewReceipt("org", Id, accountId);
        await deletions.EraseAsync(receipt, Id, (conn, tx) => AccountStore.EraseOrgRows(conn, tx, Id));
        await state.ClearStateAsync();
        await GrainFactory.GetGrain<IRetentionGrain>(0).ScheduleExpiryCheck(receipt.PurgeDue);
        DeactivateOnIdle();
        receipts.Add(receipt);
        return receipts;
    }

    public async Task<DeletionReceipt> DeleteUnreadablePlan(Guid planId)
    {
        var caller = RequireRole(OrgRole.Member);
        var entry = state.State.Plans.FirstOrDefault(p => p.PlanId == planId)
            ?? throw new InvalidRequestException("no such plan in this org");
        if (entry.OwnerId != caller.AccountId && caller.Role < OrgRole.Admin)
            throw new AccessDeniedException("only the plan's owner or an org owner/admin can delete it");
        if (await DescribeIfReadableAsync(planId) is not null)
            throw new InvalidRequestException("that plan can be read: delete it with delete-plan");
        // Null when an earlier deletion already wrote its receipt (only its grain-state row was left): that one stands.
        var receipt = await ErasePlanAsync(planId, caller.AccountId)
            ?? (await deletions.ForOrgAsync(Id)).First(r => r.SubjectId == planId);
        await RemovePlan(planId);
        return receipt;
    }

    /// <summary>
    /// Erases a plan through its grain; a plan whose grain cannot activate because its stored data cannot be
    /// decrypted (a damaged row or key, or a key already gone) is erased without it, so that one unreadable plan
    /// never blocks an account's deletion. Only on that cause: any other failure (a timeout) may mean the grain is
    /// alive and busy, and the deletion fails as before, to be retried.
    /// </summary>
    private async Task<DeletionReceipt?> ErasePlanAsync(Guid planId, Guid deletedBy)
    {
        try { return await GrainFactory.GetGrain<IPlanGrain>(planId).Erase(deletedBy); }
        catch (Exception e) when (UnreadableData.IsCause(e))
        {
            DeletionReceipt? receipt = null;
            if (!await deletions.HasReceiptAsync(planId))
            {
                receipt = deletions.NewReceipt("plan", planId, deletedBy);
                await plans.DeletePlanData(planId, receipt, Id);
            }
            await sweeper.ClearIfContentAsync("plan", planId);
            if (receipt is not null) await GrainFactory.GetGrain<IRetentionGrain>(0).ScheduleExpiryCheck(receipt.PurgeDue);
            return receipt;
        }
    }

    public async Task Create(string name, OrgMember owner)
    {
        if (state.RecordExists) throw new InvalidOperationException("org exists");
        // Sign-up creates the org before the account: sealing the name makes the account's data key.
        var sealedName = await SealName(owner.AccountId, name, create: true);
        state.State = new OrgState
        {
            SealedName = sealedName, NamedBy = owner.AccountId, CreatedAt = time.GetUtcNow(),
            Members = [new MemberEntry(owner.AccountId, owner.Role)],
        };
        await state.WriteStateAsync();
        _name = name;
    }

    public async Task AddMember(OrgMember member)
    {
        // An org deleted meanwhile (its last owner's account went) is not brought back as a list of members.
        if (!state.RecordExists) throw new InvalidRequestException("that org no longer exists");
        await ChangeListsAsync(() =>
        {
            state.State.Members.RemoveAll(m => m.AccountId == member.AccountId);
            state.State.Members.Add(new MemberEntry(member.AccountId, member.Role));
        });
    }

    public Task<OrgRole?> RoleOf(Guid accountId) =>
        Task.FromResult(state.State.Members.FirstOrDefault(m => m.AccountId == accountId)?.Role);

    public async Task<string> Name()
    {
        if (_name is not null) return _name;
        if (state.State.SealedName is not { } sealedName) return Unnamed;
        try
        {
            var opened = await envelope.OpenText(DataSubject.Account(state.State.NamedBy), OrgNamePurpose, sealedName);
            // The naming account's deletion may have dropped the name while this (interleaved) call waited: keep it out.
            return ReferenceEquals(state.State.SealedName, sealedName) ? _name = opened : Unnamed;
        }
        catch (KeyDestroyedException)
        {
            return _name = Unnamed; // that account is gone: its name never comes back
        }
    }

    private ValueTask<byte[]> SealName(Guid accountId, string name, bool create = false) =>
        envelope.Seal(DataSubject.Account(accountId), OrgNamePurpose, System.Text.Encoding.UTF8.GetBytes(name), create);

    /// <summary>
    /// Names of the org's plans; a plan whose key is already gone (being deleted) is left out, and one whose name
    /// cannot be decrypted (a damaged row or key) is listed as unreadable, not cached (a restored row reads again),
    /// so that one bad plan neither hides from its owner nor breaks the org's listing and plan creation.
    /// </summary>
    private async Task<Dictionary<Guid, string>> PlanNamesAsync()
    {
        var names = new Dictionary<Guid, string>(_names);
        foreach (var p in state.State.Plans)
        {
            if (names.ContainsKey(p.PlanId)) continue;
            try { names[p.PlanId] = _names[p.PlanId] = await envelope.OpenText(DataSubject.Plan(p.PlanId), PlanNamePurpose, p.SealedName); }
            catch (KeyDestroyedException) { }
            catch (System.Security.Cryptography.CryptographicException) { names[p.PlanId] = $"(unreadable plan {p.PlanId.ToString("N")[..8]})"; }
        }
        return names;
    }

    /// <summary>The plan's description, or null for a plan that cannot be read (<see cref="UnreadableData"/>).</summary>
    private async Task<PlanInfo?> DescribeIfReadableAsync(Guid planId)
    {
        try { return await GrainFactory.GetGrain<IPlanGrain>(planId).Describe(); }
        catch (Exception e) when (UnreadableData.IsCause(e)) { return null; }
    }

    /// <summary>
    /// Changes the member and plan lists and writes them. A write the database refused puts both lists back as they
    /// are stored: this activation must never act on a change that was not saved (a member removed in memory only
    /// would be refused until the org's next activation, then be let back in).
    /// </summary>
    private async Task ChangeListsAsync(Action change)
    {
        List<MemberEntry> members = [.. state.State.Members];
        List<PlanEntry> plans = [.. state.State.Plans];
        change();
        try { await state.WriteStateAsync(); }
        catch
        {
            (state.State.Members, state.State.Plans) = (members, plans);
            throw;
        }
    }

    private MemberEntry RequireRole(OrgRole least)
    {
        var caller = CallerContext.RequireAccount();
        var member = state.State.Members.FirstOrDefault(m => m.AccountId == caller)
            ?? throw new AccessDeniedException("you are not a member of this org");
        if (member.Role < least) throw new AccessDeniedException($"this needs the {least.ToString().ToLowerInvariant()} role");
        return member;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "account {AccountId} is now {Role} in org {OrgId} (set by {CallerId})")]
    private static partial void LogRoleSet(ILogger logger, Guid accountId, Guid orgId, OrgRole role, Guid callerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "org {OrgId}: account {AccountId} still lists it ({Error}); the org's list decides, and whoami leaves it out")]
    private static partial void LogCopyLeft(ILogger logger, Guid orgId, Guid accountId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "org {OrgId}: undoing a role change after a failure failed too ({Error}); the org's list decides the role")]
    private static partial void LogUndoFailed(ILogger logger, Guid orgId, string error);
}
