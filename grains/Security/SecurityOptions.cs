namespace Plandex.Grains.Security;

/// <summary>Section "Security": where server-side keys live (outside the database and its backups).</summary>
public sealed class SecurityOptions
{
    /// <summary>Directory of key files (mode 0700). Every silo of a cluster must see the same content.</summary>
    public string KeyDirectory { get; set; } = "";

    /// <summary>
    /// The epoch key store (key-encryption keys, one per epoch); default <c>KeyDirectory/epochs</c>. Shared by every
    /// silo; never back it up for longer than Retention:Window (that would keep deleted data readable).
    /// </summary>
    public string EpochKeyDirectory { get; set; } = "";

    public string EffectiveEpochKeyDirectory => EpochKeyDirectory.Length > 0 ? EpochKeyDirectory : Path.Combine(KeyDirectory, "epochs");
}
