using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;

namespace Plandex.Grains.Security;

/// <summary>
/// The lookup values of one normalised email: its HMAC under every live epoch's lookup key (oldest first), and under
/// the pre-epoch server key while that still exists (<see cref="Legacy"/>).
/// </summary>
public sealed record EmailKeys(long[] Epochs, byte[][] Hashes, byte[]? Legacy)
{
    /// <summary>The newest epoch: what new invites and failure counters are keyed by.</summary>
    public long CurrentEpoch => Epochs[^1];
    public byte[] Current => Hashes[^1];

    /// <summary>Every value, for rows keyed by the hash alone (failure counters).</summary>
    public byte[][] All => Legacy is null ? Hashes : [.. Hashes, Legacy];
}

/// <summary>
/// How emails are found without storing them: an HMAC under a key derived from each epoch key
/// (<see cref="KeyRing.EpochHash"/>). A copy of a lookup row (in a backup, a replica, a dump) can be tested against
/// a guessed address only while its epoch lives, at most the retention window; an HMAC under a server key that
/// never changes (the first design, still read here for rows written before migration 0011) could be tested for as
/// long as that key lived.
/// </summary>
public sealed class EmailLookup(KeyRing ring, IOptions<SecurityOptions> security, IOptions<RetentionOptions> retention, TimeProvider time)
{
    private const string Purpose = "email";
    private const string LegacyKeyName = "email-lookup.key";

    public EmailKeys Keys(string normalizedEmail)
    {
        var value = Encoding.UTF8.GetBytes(normalizedEmail);
        var listed = ring.Epochs.List();
        // The epoch of now exists even if its rotation has not run yet (after downtime): an invite keyed by an older
        // one would expire with it, and the rotation's fill adds every account's row in it anyway.
        var now = ring.EpochOf(time.GetUtcNow());
        if (listed.Count == 0 || listed[^1] < now)
        {
            ring.Epochs.EnsureCreated(now);
            listed = ring.Epochs.List();
        }
        var (epochs, hashes) = (new List<long>(listed.Count), new List<byte[]>(listed.Count));
        foreach (var epoch in listed)
        {
            try { hashes.Add(ring.EpochHash(epoch, Purpose, value)); }
            catch (KeyDestroyedException) { continue; } // destroyed since it was listed: its rows are going too
            epochs.Add(epoch);
        }
        if (epochs.Count == 0) throw new KeyDestroyedException("key destroyed: no epoch key is left to look emails up with");
        return new EmailKeys([.. epochs], [.. hashes], LegacyHash(value));
    }

    /// <summary>The email's lookup value in one epoch (rotation: the new epoch's rows).</summary>
    public byte[] Hash(long epoch, string normalizedEmail) => ring.EpochHash(epoch, Purpose, Encoding.UTF8.GetBytes(normalizedEmail));

    /// <summary>
    /// Until when a value of <paramref name="epoch"/> is sure to be checkable: its key is destroyed at the first
    /// rotation after its start is the retention window old. Invites end by then.
    /// </summary>
    public DateTimeOffset UsableUntil(long epoch) => DateTimeOffset.FromUnixTimeSeconds(epoch) + retention.Value.Window;

    /// <summary>Whether rows from before migration 0011 may still exist (their key does).</summary>
    public bool HasLegacyKey => File.Exists(LegacyKeyPath);

    /// <summary>Destroys the pre-epoch key once no row needs it: every copy of such a row then is a dead value.</summary>
    public void DestroyLegacyKey() => KeyFile.Destroy(LegacyKeyPath);

    private string LegacyKeyPath => Path.Combine(security.Value.KeyDirectory, LegacyKeyName);

    // Read per use and wiped at once (sign-ups and sign-ins are rare): no copy of it stays in memory.
    private byte[]? LegacyHash(byte[] value)
    {
        var key = KeyFile.ReadIfExists(LegacyKeyPath);
        if (key is null) return null;
        try { return HMACSHA256.HashData(key, value); }
        finally { CryptographicOperations.ZeroMemory(key); }
    }
}
