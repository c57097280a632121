using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Security;
using Plandex.Grains.Validation;

namespace Plandex.Grains.Accounts;

/// <summary>
/// Sign-up and code sign-in. All input is validated before anything is written; single-use rules (email,
/// invite, bootstrap, code) are claimed in the database, and a claim is released if a later step fails.
/// </summary>
[StatelessWorker]
internal sealed partial class AccessGrain(
    AccountStore store,
    EmailLookup emails,
    Envelope envelope,
    KeyRing ring,
    FailureLimiter limiter,
    InviteCodes invites,
    IOptions<AccountsOptions> options,
    TimeProvider time,
    ILogger<AccessGrain> log) : Grain, IAccessGrain
{
    public async Task<SignInResult> SignUp(SignUpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var email = EmailAddress.Normalize(request.Email);
        var name = Input.Name(request.Name, "name");
        var keys = emails.Keys(email);
        var accountId = Guid.NewGuid();

        var (orgId, role, newOrg, undo) = await AdmitAsync(request, keys, accountId);
        try
        {
            // The index keeps the email sealed under the account's own key (made here), for each new epoch's row.
            var sealedEmail = await envelope.Seal(DataSubject.Account(accountId), EmailEpochs.SealPurpose, Encoding.UTF8.GetBytes(email), create: true);
            try
            {
                if (!await store.TryClaimEmail(accountId, sealedEmail, keys))
                    throw new InvalidRequestException(string.IsNullOrEmpty(request.InviteCode)
                        ? "an account with this email already exists: sign in instead"
                        : "an account with this email already exists: sign in and accept the invite with `plandex join CODE`");
                await JoinOrgAsync(orgId, newOrg, new OrgMember(accountId, email, name, role));
                await GrainFactory.GetGrain<IAccountGrain>(accountId).Create(email, name, orgId, role);
            }
            catch
            {
                await store.ReleaseEmail(accountId);
                await ring.DropAsync(accountId); // the account never came to be: nothing may stay sealed under its key
                throw;
            }
        }
        catch
        {
            await undo();
            throw;
        }
        LogSignedUp(log, accountId, role);
        return await NewSessionAsync(accountId, orgId, email);
    }

    public async Task<SignInResult> SignInWithCode(string email, string code)
    {
        var normalized = EmailAddress.Normalize(email);
        var input = Input.Code(code, "sign-in code");
        var keys = emails.Keys(normalized);
        var attempt = await limiter.ReserveAsync("signin-code", keys.Current);
        var accountId = await store.FindAccountByEmail(keys);
        if (accountId is null || !await store.RedeemSignInCode(SecretTokens.HashCode(input), accountId.Value, time.GetUtcNow()))
            throw new AccessDeniedException("sign-in code is unknown, used or expired"); // the reservation stays: a failure
        await limiter.ReleaseAsync(attempt);
        var info = await GrainFactory.GetGrain<IAccountGrain>(accountId.Value).Describe()
            ?? throw new AccessDeniedException("sign-in code is unknown, used or expired");
        return await NewSessionAsync(info.AccountId, info.Orgs.FirstOrDefault()?.OrgId ?? Guid.Empty, normalized);
    }

    /// <summary>Decides which gate admits this sign-up; returns the org to join and how to undo the claim.</summary>
    private async Task<(Guid OrgId, OrgRole Role, bool NewOrg, Func<Task> Undo)> AdmitAsync(SignUpRequest request, EmailKeys keys, Guid accountId)
    {
        if (!string.IsNullOrEmpty(request.InviteCode))
        {
            var invite = await invites.RedeemAsync(request.InviteCode, keys);
            return (invite.OrgId, invite.Role, false, invite.Undo);
        }
        if (!string.IsNullOrEmpty(request.BootstrapSecret))
        {
            var configured = options.Value.BootstrapSecret;
            var attempt = await limiter.ReserveAsync("bootstrap", []);
            if (configured.Length == 0 || !CryptographicOperations.FixedTimeEquals(
                    Encoding.UTF8.GetBytes(request.BootstrapSecret), Encoding.UTF8.GetBytes(configured)))
                throw new AccessDeniedException("bootstrap secret is wrong or not configured");
            await limiter.ReleaseAsync(attempt);
            if (!await store.TryClaimBootstrap(accountId))
                throw new AccessDeniedException("this server already has its first owner: ask them for an invite");
            return (Guid.NewGuid(), OrgRole.Owner, true, () => store.ReleaseBootstrap(accountId));
        }
        if (options.Value.OpenSignUp) return (Guid.NewGuid(), OrgRole.Owner, true, () => Task.CompletedTask);
        throw new AccessDeniedException("sign-up needs an invite code from an org owner or admin");
    }

    private async Task JoinOrgAsync(Guid orgId, bool newOrg, OrgMember member)
    {
        var org = GrainFactory.GetGrain<IOrgGrain>(orgId);
        if (newOrg) await org.Create($"{member.Name}'s org", member);
        else await org.AddMember(member);
    }

    private async Task<SignInResult> NewSessionAsync(Guid accountId, Guid orgId, string email)
    {
        var token = SecretTokens.NewSessionToken();
        var now = time.GetUtcNow();
        var expires = now + options.Value.SessionLifetime;
        await store.CreateSession(SecretTokens.HashToken(token), accountId, now, expires);
        return new SignInResult(accountId, orgId, email, token, expires);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "account {AccountId} signed up as {Role}")]
    private static partial void LogSignedUp(ILogger logger, Guid accountId, OrgRole role);
}
