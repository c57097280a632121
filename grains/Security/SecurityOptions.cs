namespace Plandex.Grains.Security;

/// <summary>Section "Security": where server-side keys live (outside the database and its backups).</summary>
public sealed class SecurityOptions
{
    /// <summary>Directory of key files (mode 0700). Every silo of a cluster must see the same content.</summary>
    public string KeyDirectory { get; set; } = "";
}
