using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Cluster;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

internal sealed partial class AccountGrain(
    [PersistentState("account")] IPersistentState<AccountState> state,
    AccountStore store,
    DeletionStore deletions,
    EmailLookup emails,
    InviteCodes invites,
    Envelope envelope,
    IOptions<AccountsOptions> options,
    TimeProvider time,
    ILogger<AccountGrain> log) : Grain, IAccountGrain
{
    private Guid Id => this.GetPrimaryKey();

    // Not persisted; gone on deactivation. True while DeleteAccount runs. The membership calls an org makes meanwhile
    // (interleaved: see IAccountGrain) add no role and write nothing, since the deletion erases this state anyway
    // and a write landing after its erasure would seal a new state under a new key.
    private bool _deleting;

    // Not persisted. One state write at a time: membership changes interleave with this grain's other calls, and two
    // writes in flight at once would race on the row's version.
    private readonly SemaphoreSlim _writes = new(1, 1);

    public override Task OnActivateAsync(CancellationToken cancellationToken) =>
        DatabaseFailures.Activating(log, this.GetGrainId(), () => MoveLegacyRows(cancellationToken));

    private async Task MoveLegacyRows(CancellationToken cancellationToken)
    {
        // State written before memberships lost their copy of the org's name: drop the copy (see AccountState).
        if (state.RecordExists && state.State.LegacyOrgs.Count > 0)
        {
            state.State.Orgs.AddRange(state.State.LegacyOrgs.Select(o => new AccountMembership(o.OrgId, o.Role)));
            state.State.LegacyOrgs.Clear();
            await state.WriteStateAsync(cancellationToken);
        }
        // An email index row from before the epochs (migration 0011): move it, or drop it if the account is gone.
        if (emails.HasLegacyKey && await store.HasLegacyEmail(Id))
        {
            if (!state.RecordExists) await store.ReleaseEmail(Id);
            else
            {
                var sealedEmail = await envelope.Seal(DataSubject.Account(Id), EmailEpochs.SealPurpose, System.Text.Encoding.UTF8.GetBytes(state.State.Email));
                await store.MoveLegacyEmail(Id, sealedEmail, emails.Keys(state.State.Email));
            }
        }
    }

    public Task<AccountInfo> WhoAmI()
    {
        RequireSelf();
        return InfoAsync();
    }

    public async Task<SignInCode> CreateSignInCode()
    {
        RequireSelf();
        var code = SecretTokens.NewCode();
        var now = time.GetUtcNow();
        var expires = now + options.Value.SignInCodeLifetime;
        await store.CreateSignInCode(SecretTokens.HashCode(code), Id, now, expires);
        return new SignInCode(code, expires);
    }

    public async Task SignOut()
    {
        RequireSelf();
        if (CallerContext.SessionHash() is { } hash) await store.RevokeSession(hash, Id, time.GetUtcNow());
    }

    public async Task<int> RevokeAllSessions()
    {
        RequireSelf();
        return await store.RevokeAllSessions(Id, time.GetUtcNow());
    }

    public async Task<IReadOnlyList<DeletionReceipt>> DeleteAccount()
    {
        RequireSelf();
        _deleting = true;
        try { return await DeleteAsync(); }
        finally { _deleting = false; }
    }

    private async Task<IReadOnlyList<DeletionReceipt>> DeleteAsync()
    {
        var orgs = state.State.Orgs.Select(m => GrainFactory.GetGrain<IOrgGrain>(m.OrgId)).ToList();
        // Every org is read before any is changed: one that cannot be read (UnreadableDataException) refuses the
        // deletion as a whole, instead of after the orgs listed before it were erased.
        await Task.WhenAll(orgs.Select(o => o.RoleOf(Id)));
        var receipts = new List<DeletionReceipt>();
        foreach (var org in orgs)
            receipts.AddRange(await org.RemoveAccount(Id));
        var receipt = deletions.NewReceipt("account", Id, Id);
        var keys = emails.Keys(state.State.Email);
        // Rows and the account's data key in one transaction, then the sealed state row (see PlanGrain.Erase); a
        // membership write that began before this deletion finishes first.
        await _writes.WaitAsync();
        try
        {
            await deletions.EraseAsync(receipt, null, (conn, tx) => AccountStore.EraseAccountRows(conn, tx, Id, keys));
            await state.ClearStateAsync();
        }
        finally { _writes.Release(); }
        await GrainFactory.GetGrain<IRetentionGrain>(0).ScheduleExpiryCheck(receipt.PurgeDue);
        DeactivateOnIdle();
        receipts.Add(receipt);
        return receipts;
    }

    public async Task<OrgMembership> JoinOrg(string inviteCode)
    {
        RequireSelf();
        var invite = await invites.RedeemAsync(inviteCode, emails.Keys(state.State.Email));
        var stale = state.State.Orgs.FirstOrDefault(o => o.OrgId == invite.OrgId);
        bool member;
        try { member = stale is not null && await GrainFactory.GetGrain<IOrgGrain>(invite.OrgId).RoleOf(Id) is not null; }
        catch { await invite.Undo(); throw; }
        if (member)
        {
            await invite.Undo();
            throw new InvalidRequestException("you are already a member of that org");
        }
        // A copy the org does not back (see InfoAsync) does not keep the account out: the new membership replaces it.
        if (stale is not null) state.State.Orgs.Remove(stale);
        var membership = new AccountMembership(invite.OrgId, invite.Role);
        // The account lists the org before the org lists the account: a silo lost between the two leaves an account
        // naming an org that refuses it, never a member the account's deletion would not visit.
        state.State.Orgs.Add(membership);
        var written = false;
        try
        {
            await WriteAsync();
            written = true;
            await GrainFactory.GetGrain<IOrgGrain>(invite.OrgId).AddMember(new OrgMember(Id, state.State.Email, state.State.Name, invite.Role));
        }
        catch
        {
            state.State.Orgs.Remove(membership);
            if (written) await TryWriteAsync();
            else if (stale is not null) state.State.Orgs.Add(stale); // as stored
            await invite.Undo();
            throw;
        }
        LogJoined(log, Id, invite.OrgId, invite.Role);
        return new OrgMembership(invite.OrgId, await OrgNameAsync(invite.OrgId), invite.Role);
    }

    /// <summary>A write that undoes an earlier one after a failure; its own failure is logged, not thrown over the first.</summary>
    private async Task TryWriteAsync()
    {
        try { await WriteAsync(); }
        catch (Exception e) { LogUndoFailed(log, Id, e.GetType().Name); }
    }

    private async Task WriteAsync()
    {
        await _writes.WaitAsync();
        try { await state.WriteStateAsync(); }
        finally { _writes.Release(); }
    }

    public async Task Create(string email, string name, Guid orgId, OrgRole role)
    {
        if (state.RecordExists) throw new InvalidOperationException("account exists");
        state.State = new AccountState { Email = email, Name = name, CreatedAt = time.GetUtcNow(), Orgs = [new(orgId, role)] };
        await WriteAsync();
    }

    public async Task AddMembership(Guid orgId, OrgRole role)
    {
        // Never makes an account: one deleted while its org changed its role stays deleted.
        if (!state.RecordExists) throw new InvalidRequestException("that account no longer exists");
        if (_deleting) throw new InvalidRequestException("that account is being deleted");
        var orgs = state.State.Orgs;
        var index = orgs.FindIndex(o => o.OrgId == orgId);
        var previous = index >= 0 ? orgs[index] : null;
        var added = new AccountMembership(orgId, role);
        if (index >= 0) orgs[index] = added; else orgs.Add(added);
        try { await WriteAsync(); }
        catch
        {
            // A refused write leaves the list as stored. Only this change is undone: another org's may have
            // interleaved while the write was on its way.
            var at = orgs.IndexOf(added);
            if (at >= 0 && previous is null) orgs.RemoveAt(at);
            else if (at >= 0) orgs[at] = previous!;
            throw;
        }
    }

    public async Task RemoveMembership(Guid orgId)
    {
        // During a deletion the org has let the account go already, and the deletion erases this list with the rest.
        if (_deleting) return;
        var orgs = state.State.Orgs;
        var index = orgs.FindIndex(o => o.OrgId == orgId);
        if (index < 0) return;
        var removed = orgs[index];
        orgs.RemoveAt(index);
        try { await WriteAsync(); }
        catch
        {
            if (!orgs.Any(o => o.OrgId == orgId)) orgs.Insert(Math.Min(index, orgs.Count), removed);
            throw;
        }
    }

    public async Task<AccountInfo?> Describe() => state.RecordExists ? await InfoAsync() : null;

    /// <summary>
    /// Each org listed here is asked for its name and for this account's role (<see cref="IOrgGrain.Name"/>,
    /// <see cref="IOrgGrain.RoleOf"/>, both always interleaved): the org's list decides. An org that no longer lists
    /// the account is left out: its removal or deletion reached the org but not this copy (a refused write, a
    /// removal during this account's deletion). One whose state cannot be read is shown with the role stored here.
    /// </summary>
    private async Task<AccountInfo> InfoAsync()
    {
        var orgs = await Task.WhenAll(state.State.Orgs.ToList().Select(AskOrgAsync));
        return new(Id, state.State.Email, state.State.Name, orgs.OfType<OrgMembership>().ToList());
    }

    private async Task<OrgMembership?> AskOrgAsync(AccountMembership stored)
    {
        var org = GrainFactory.GetGrain<IOrgGrain>(stored.OrgId);
        try
        {
            var (role, name) = (org.RoleOf(Id), org.Name());
            await Task.WhenAll(role, name);
            return role.Result is { } r ? new OrgMembership(stored.OrgId, name.Result, r) : null;
        }
        catch (Exception e) when (Encryption.UnreadableData.IsCause(e)) { return new(stored.OrgId, Unreadable(stored.OrgId), stored.Role); }
    }

    /// <summary>An org's name; one whose state cannot be read is shown as such rather than failing the whole answer.</summary>
    private async Task<string> OrgNameAsync(Guid orgId)
    {
        try { return await GrainFactory.GetGrain<IOrgGrain>(orgId).Name(); }
        catch (Exception e) when (Encryption.UnreadableData.IsCause(e)) { return Unreadable(orgId); }
    }

    private static string Unreadable(Guid orgId) => $"org {orgId.ToString("N")[..8]} (unreadable)";

    // A session may act only on its own account, whatever key the client asked for.
    private void RequireSelf()
    {
        if (CallerContext.RequireAccount() != Id || !state.RecordExists) throw new AccessDeniedException("not your account");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "account {AccountId} joined org {OrgId} as {Role}")]
    private static partial void LogJoined(ILogger logger, Guid accountId, Guid orgId, OrgRole role);

    [LoggerMessage(Level = LogLevel.Warning, Message = "account {AccountId}: undoing a failed join could not be written ({Error}); its state lists an org that does not list it")]
    private static partial void LogUndoFailed(ILogger logger, Guid accountId, string error);
}
