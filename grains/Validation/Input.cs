using Plandex.GrainInterfaces;

namespace Plandex.Grains.Validation;

/// <summary>Input checks shared by grains: each failure is one message naming the field.</summary>
public static class Input
{
    public static string Name(string? value, string field, int max = 100)
    {
        var s = value?.Trim() ?? "";
        if (s.Length == 0) throw new InvalidRequestException($"{field} is required");
        if (s.Length > max) throw new InvalidRequestException($"{field} is too long (max {max} characters)");
        if (s.Any(char.IsControl)) throw new InvalidRequestException($"{field} contains control characters");
        return s;
    }

    public static string Code(string? value, string field)
    {
        var s = value?.Trim() ?? "";
        if (s.Length == 0) throw new InvalidRequestException($"{field} is required");
        if (s.Length > 64) throw new InvalidRequestException($"{field} is too long");
        return s;
    }
}
