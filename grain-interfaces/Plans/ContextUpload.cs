namespace Plandex.GrainInterfaces;

/// <summary>One file to load into a plan: its project-relative, '/'-separated path and its text.</summary>
[GenerateSerializer, Immutable]
public sealed record ContextUpload(
    [property: Id(0)] string Path,
    [property: Id(1)] string Body);
