using Plandex.GrainInterfaces;

namespace Plandex.Grains.Accounts;

/// <summary>
/// An account's persistent state (sealed under the account's data key). Memberships hold the org's id and role
/// only, never its name: an org is named after the account that created it, and a copy here would outlive that
/// account's deletion in this account's state and in every backup of it.
/// </summary>
[GenerateSerializer]
public sealed class AccountState
{
    [Id(0)] public string Email { get; set; } = "";
    [Id(1)] public string Name { get; set; } = "";
    [Id(2)] public DateTimeOffset CreatedAt { get; set; }
    /// <summary>Memberships as first stored, with a copy of the org's name: read once, then moved to <see cref="Orgs"/>.</summary>
    [Id(3)] public List<OrgMembership> LegacyOrgs { get; set; } = [];
    [Id(4)] public List<AccountMembership> Orgs { get; set; } = [];
}

[GenerateSerializer, Immutable]
public sealed record AccountMembership([property: Id(0)] Guid OrgId, [property: Id(1)] OrgRole Role);
