namespace Plandex.Tests.Streams;

/// <summary>
/// One world for a whole test class, for classes whose tests leave nothing another would trip on (xunit runs a
/// class's tests one at a time): a world per test cost a silo start, ~3 s of CPU, each.
/// </summary>
public class OneSiloWorld : IAsyncLifetime
{
    public StreamWorld World { get; private set; } = null!;
    protected virtual int SiloCount => 1;

    public async Task InitializeAsync() => World = await StreamWorld.StartAsync(SiloCount);
    public async Task DisposeAsync() => await World.DisposeAsync();
}

public sealed class TwoSiloWorld : OneSiloWorld
{
    protected override int SiloCount => 2;
}
