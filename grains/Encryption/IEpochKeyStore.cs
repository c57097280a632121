namespace Plandex.Grains.Encryption;

/// <summary>
/// Where key-encryption keys (one per epoch) live: outside the database and its backups, so destroying an epoch
/// key makes every copy of the data keys it wrapped unreadable. Pluggable; <see cref="DirectoryEpochKeyStore"/>
/// is the self-hosted default. Epoch ids are the epoch's start in Unix seconds.
/// </summary>
public interface IEpochKeyStore
{
    /// <summary>Epoch ids present, ascending.</summary>
    IReadOnlyList<long> List();

    /// <summary>The epoch's 32-byte key in a fresh pinned array (the caller wipes it), or null if destroyed or never made.</summary>
    byte[]? Read(long epoch);

    /// <summary>Creates the epoch's key unless it exists (idempotent; safe when several silos race).</summary>
    void EnsureCreated(long epoch);

    /// <summary>Destroys the epoch's key for good (idempotent).</summary>
    void Destroy(long epoch);
}
