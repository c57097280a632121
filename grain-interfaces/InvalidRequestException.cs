namespace Plandex.GrainInterfaces;

/// <summary>Bad input: one clear message naming what was wrong. Nothing was persisted.</summary>
[GenerateSerializer]
public sealed class InvalidRequestException : Exception
{
    public InvalidRequestException(string message) : base(message) { }
}
