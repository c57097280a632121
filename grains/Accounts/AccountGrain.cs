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
        var orgs = state.State.Orgs.Select(m => GrainFactory.GetGrain<IOrgGrain>(m.OrgId)).ToList();
        // Every org is read before any is changed: one that cannot be read (UnreadableDataException) refuses the
        // deletion as a whole, instead of after the orgs listed before it were erased.
        await Task.WhenAll(orgs.Select(o => o.RoleOf(Id)));
        var receipts = new List<DeletionReceipt>();
        foreach (var org in orgs)
            receipts.AddRange(await org.RemoveAccount(Id));
        var receipt = deletions.NewReceipt("account", Id, Id);
        var keys = emails.Keys(state.State.Email);
        // Rows and the account's data key in one transaction, then the sealed state row (see PlanGrain.Erase).
        await deletions.EraseAsync(receipt, null, (conn, tx) => AccountStore.EraseAccountRows(conn, tx, Id, keys));
        await state.ClearStateAsync();
        await GrainFactory.GetGrain<IRetentionGrain>(0).ScheduleExpiryCheck(receipt.PurgeDue);
        DeactivateOnIdle();
        receipts.Add(receipt);
        return receipts;
    }

    public async Task<OrgMembership> JoinOrg(string inviteCode)
    {
        RequireSelf();
        var invite = await invites.RedeemAsync(inviteCode, emails.Keys(state.State.Email));
        if (state.State.Orgs.Any(o => o.OrgId == invite.OrgId))
        {
            await invite.Undo();
            throw new InvalidRequestException("you are already a member of that org");
        }
        var membership = new AccountMembership(invite.OrgId, invite.Role);
        // The account lists the org before the org lists the account: a silo lost between the two leaves an account
        // naming an org that refuses it, never a member the account's deletion would not visit.
        state.State.Orgs.Add(membership);
        var written = false;
        try
        {
            await state.WriteStateAsync();
            written = true;
            await GrainFactory.GetGrain<IOrgGrain>(invite.OrgId).AddMember(new OrgMember(Id, state.State.Email, state.State.Name, invite.Role));
        }
        catch
        {
            state.State.Orgs.Remove(membership);
            if (written) await TryWriteAsync();
            await invite.Undo();
            throw;
        }
        LogJoined(log, Id, invite.OrgId, invite.Role);
        return new OrgMembership(invite.OrgId, await OrgNameAsync(invite.OrgId), invite.Role);
    }

    /// <summary>A write that undoes an earlier one after a failure; its own failure is logged, not thrown over the first.</summary>
    private async Task TryWriteAsync()
    {
        try { await state.WriteStateAsync(); }
        catch (Exception e) { LogUndoFailed(log, Id, e.GetType().Name); }
    }

    public async Task Create(string email, string name, Guid orgId, OrgRole role)
    {
        if (state.RecordExists) throw new InvalidOperationException("account exists");
        state.State = new AccountState { Email = email, Name = name, CreatedAt = time.GetUtcNow(), Orgs = [new(orgId, role)] };
        await state.WriteStateAsync();
    }

    public async Task AddMembership(Guid orgId, OrgRole role)
    {
        // Never makes an account: one deleted while its org changed its role stays deleted.
        if (!state.RecordExists) throw new InvalidRequestException("that account no longer exists");
        var before = state.State.Orgs.ToList();
        state.State.Orgs.RemoveAll(o => o.OrgId == orgId);
        state.State.Orgs.Add(new AccountMembership(orgId, role));
        await WriteOrRestoreOrgsAsync(before);
    }

    public async Task RemoveMembership(Guid orgId)
    {
        var before = state.State.Orgs.ToList();
        if (state.State.Orgs.RemoveAll(o => o.OrgId == orgId) > 0) await WriteOrRestoreOrgsAsync(before);
    }

    /// <summary>A write the database refused leaves the list in memory as it is stored, not as it would have been.</summary>
    private async Task WriteOrRestoreOrgsAsync(List<AccountMembership> before)
    {
        try { await state.WriteStateAsync(); }
        catch
        {
            state.State.Orgs.Clear();
            state.State.Orgs.AddRange(before);
            throw;
        }
    }

    public async Task<AccountInfo?> Describe() => state.RecordExists ? await InfoAsync() : null;

    /// <summary>Org names are asked of each org (<see cref="IOrgGrain.Name"/>, always interleaved), never stored here.</summary>
    private async Task<AccountInfo> InfoAsync()
    {
        var orgs = state.State.Orgs.ToList();
        var names = await Task.WhenAll(orgs.Select(o => OrgNameAsync(o.OrgId)));
        return new(Id, state.State.Email, state.State.Name, orgs.Zip(names, (o, n) => new OrgMembership(o.OrgId, n, o.Role)).ToList());
    }

    /// <summary>An org's name; one whose state cannot be read is shown as such rather than failing the whole answer.</summary>
    private async Task<string> OrgNameAsync(Guid orgId)
    {
        try { return await GrainFactory.GetGrain<IOrgGrain>(orgId).Name(); }
        catch (Exception e) when (Encryption.UnreadableData.IsCause(e)) { return $"org {orgId.ToString("N")[..8]} (unreadable)"; }
    }

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
