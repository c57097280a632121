using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Cluster;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;
using Plandex.Grains.Security;

namespace Plandex.Grains.Accounts;

internal sealed class AccountGrain(
    [PersistentState("account")] IPersistentState<AccountState> state,
    AccountStore store,
    DeletionStore deletions,
    EmailLookup emails,
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
        var receipts = new List<DeletionReceipt>();
        foreach (var membership in state.State.Orgs.ToList())
            receipts.AddRange(await GrainFactory.GetGrain<IOrgGrain>(membership.OrgId).RemoveAccount(Id));
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

    public async Task Create(string email, string name, Guid orgId, OrgRole role)
    {
        if (state.RecordExists) throw new InvalidOperationException("account exists");
        state.State = new AccountState { Email = email, Name = name, CreatedAt = time.GetUtcNow(), Orgs = [new(orgId, role)] };
        await state.WriteStateAsync();
    }

    public async Task AddMembership(Guid orgId, OrgRole role)
    {
        state.State.Orgs.RemoveAll(o => o.OrgId == orgId);
        state.State.Orgs.Add(new AccountMembership(orgId, role));
        await state.WriteStateAsync();
    }

    public async Task RemoveMembership(Guid orgId)
    {
        if (state.State.Orgs.RemoveAll(o => o.OrgId == orgId) > 0) await state.WriteStateAsync();
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
}
