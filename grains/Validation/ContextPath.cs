using Plandex.GrainInterfaces;

namespace Plandex.Grains.Validation;

/// <summary>
/// Context item paths: relative, '/'-separated, inside the project. Refused: empty, absolute ("/x"), drive or UNC
/// paths ("C:\x", "\\host"), backslashes, "." or ".." segments, NUL or other control characters, over 1,024
/// characters.
/// </summary>
public static class ContextPath
{
    public const int MaxLength = 1024;

    public static string Check(string? path)
    {
        if (string.IsNullOrEmpty(path)) throw new InvalidRequestException("context path is empty");
        if (path.Length > MaxLength) throw new InvalidRequestException($"context path is too long ({path.Length} characters; max {MaxLength})");
        var shown = path.Length > 80 ? path[..80] + "…" : path;
        if (path.Any(char.IsControl)) throw new InvalidRequestException($"context path '{Printable(shown)}' contains a control character");
        if (path.Contains('\\')) throw new InvalidRequestException($"context path '{shown}' contains a backslash: use '/'");
        if (path.StartsWith('/')) throw new InvalidRequestException($"context path '{shown}' is absolute: paths are relative to the project");
        if (path.Length >= 2 && char.IsAsciiLetter(path[0]) && path[1] == ':') throw new InvalidRequestException($"context path '{shown}' is a drive path");
        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or "." or "..") throw new InvalidRequestException($"context path '{shown}' has an empty, '.' or '..' segment");
        }
        return path;
    }

    private static string Printable(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
