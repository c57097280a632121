namespace Plandex.GrainInterfaces;

/// <summary>The caller is not authenticated or not allowed. The message never names a token or a secret.</summary>
[GenerateSerializer]
public sealed class AccessDeniedException : Exception
{
    public AccessDeniedException(string message) : base(message) { }
}
