namespace Plandex.Grains.Streams;

/// <summary>
/// Section "ScanControl". Exists only so the key-hygiene test can prove its memory scan is able to fail: when on,
/// sessions deliberately keep a string copy of each key forever. Never turn it on anywhere else; the silo logs a
/// warning at start when it is on.
/// </summary>
public sealed class ScanControlOptions
{
    public bool KeepKeysAsStrings { get; set; }

    // Deliberately leaked copies (control run only).
    internal static readonly List<string> Leaked = [];
}
