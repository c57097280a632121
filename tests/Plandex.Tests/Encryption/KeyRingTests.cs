using Plandex.Grains.Security;
using Plandex.Grains.Accounts;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Plandex.GrainInterfaces;
using Plandex.Grains.Encryption;
using Plandex.Grains.Retention;
using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Encryption;

/// <summary>The envelope, the key ring and one rotation step against a real database and a real key directory.</summary>
public sealed class KeyRingTests : IAsyncLifetime
{
    private TestDatabase _db = null!;
    private NpgsqlDataSource _source = null!;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2030, 3, 1, 10, 0, 0, TimeSpan.Zero));
    private readonly IOptions<RetentionOptions> _options = Options.Create(new RetentionOptions());

    public async Task InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync();
        _source = NpgsqlDataSource.Create(_db.AppConnectionString);
    }

    public async Task DisposeAsync()
    {
        await _source.DisposeAsync();
        await _db.DisposeAsync();
    }

    private KeyRing NewRing() => new(_source, new DirectoryEpochKeyStore(Path.Combine(_db.KeyDirectory, "epochs")), _clock, _options);

    [Fact]
    public async Task A_blob_opens_only_for_its_own_subject_and_purpose_and_not_after_tampering()
    {
        using var ring = NewRing();
        var envelope = new Envelope(ring);
        var plan = DataSubject.Plan(Guid.NewGuid());
        var other = DataSubject.Plan(Guid.NewGuid());
        await envelope.Seal(other, "x", new byte[1], create: true);
        var blob = await envelope.Seal(plan, "message:1", Encoding.UTF8.GetBytes("hello"), create: true);

        Assert.Equal("hello", await envelope.OpenText(plan, "message:1", blob));
        Assert.DoesNotContain("hello", Encoding.UTF8.GetString(blob));
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await envelope.Open(other, "message:1", blob));
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await envelope.Open(plan, "message:2", blob));
        var tampered = (byte[])blob.Clone();
        tampered[^1] ^= 1;
        await Assert.ThrowsAnyAsync<CryptographicException>(async () => await envelope.Open(plan, "message:1", tampered));
    }

    [Fact]
    public async Task Without_a_key_a_write_is_refused_and_a_read_says_key_destroyed()
    {
        using var ring = NewRing();
        var envelope = new Envelope(ring);
        var ghost = DataSubject.Plan(Guid.NewGuid());
        var e = await Assert.ThrowsAsync<KeyDestroyedException>(async () => await envelope.Seal(ghost, "message:1", new byte[3]));
        Assert.StartsWith("key destroyed:", e.Message);
        Assert.Equal(0L, await _db.ScalarAsync<long>("SELECT count(*) FROM plandex_data_keys"));
    }

    [Fact]
    public async Task Rotation_rewraps_live_keys_keeps_data_readable_and_destroys_epochs_only_after_the_window()
    {
        using var ring = NewRing();
        var envelope = new Envelope(ring);
        var plan = DataSubject.Plan(Guid.NewGuid());
        var blob = await envelope.Seal(plan, "p", Encoding.UTF8.GetBytes("kept"), create: true);
        var first = await _db.ScalarAsync<long>($"SELECT epoch FROM plandex_data_keys WHERE subject_id = '{plan.Id}'");
        var wrappedBefore = await _db.ScalarAsync<byte[]>($"SELECT wrapped FROM plandex_data_keys WHERE subject_id = '{plan.Id}'");

        var emails = new EmailEpochs(_source, envelope, new EmailLookup(ring, Options.Create(new SecurityOptions { KeyDirectory = _db.KeyDirectory }), _options, _clock));
        var rotation = new EpochRotation(ring, new DeletionStore(_source, ring, _clock, _options), emails, _options);
        for (var day = 1; day <= 8; day++)
        {
            _clock.Advance(TimeSpan.FromDays(1));
            var result = await rotation.RunAsync(_clock.GetUtcNow());
            Assert.Equal(1, result.Rewrapped);
            var again = await rotation.RunAsync(_clock.GetUtcNow()); // a duplicated tick: nothing to do
            Assert.Equal((0, 0, 0), (again.Rewrapped, again.Destroyed.Count, again.Purged));
            var epochs = ring.Epochs.List();
            // Nothing older than the window survives; the window's own epochs do.
            Assert.All(epochs, e => Assert.True(DateTimeOffset.FromUnixTimeSeconds(e) > _clock.GetUtcNow() - TimeSpan.FromDays(7)));
            Assert.Equal(day < 7 ? day + 1 : 7, epochs.Count);
            Assert.Equal(day >= 7, !epochs.Contains(first));
        }
        Assert.NotEqual(wrappedBefore, await _db.ScalarAsync<byte[]>($"SELECT wrapped FROM plandex_data_keys WHERE subject_id = '{plan.Id}'"));

        // A fresh ring (nothing cached) still opens the data: the live key moved with the epochs.
        using var fresh = NewRing();
        Assert.Equal("kept", await new Envelope(fresh).OpenText(plan, "p", blob));
    }
}
