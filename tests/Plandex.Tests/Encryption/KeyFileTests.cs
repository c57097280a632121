using Microsoft.Extensions.Options;
using Plandex.Grains.Security;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Encryption;

/// <summary>
/// Silos that start together on a fresh key directory must agree on its keys, and none may read a half-written one.
/// A fresh CI clone once saw a silo exit with "email-lookup.key is not a 32-byte key" (create, then write; the
/// cluster-call key is now the server key every silo makes at start); and a
/// publish by <c>File.Move</c> without overwrite let two silos each keep their own epoch key (both tests fail so).
/// </summary>
public sealed class KeyFileTests
{
    [Fact]
    public async Task Silos_starting_together_read_one_whole_cluster_call_key()
    {
        for (var round = 0; round < 120; round++)
        {
            var options = Options.Create(new SecurityOptions { KeyDirectory = TestEnv.NewWorkDir("keyfile") });
            using var start = new Barrier(8);
            var hashes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                start.SignalAndWait();
                return Convert.ToHexString(Plandex.Grains.Encryption.KeyFile.ReadServerKey(options.Value.KeyDirectory, "cluster-calls.key"));
            })));
            Assert.Single(hashes.Distinct());
        }
    }

    [Fact]
    public async Task Silos_creating_the_same_epoch_together_read_one_key()
    {
        for (var round = 0; round < 120; round++)
        {
            var dir = TestEnv.NewWorkDir("epochs");
            using var start = new Barrier(8);
            var keys = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                var store = new Plandex.Grains.Encryption.DirectoryEpochKeyStore(dir);
                start.SignalAndWait();
                store.EnsureCreated(1);
                return Convert.ToHexString(store.Read(1)!);
            })));
            Assert.Single(keys.Distinct());
        }
    }
}
