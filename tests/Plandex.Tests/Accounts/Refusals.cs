using Plandex.Tests.Infrastructure;

namespace Plandex.Tests.Accounts;

/// <summary>
/// Asserts that a hostile or bad call is refused with the expected exception type and changes nothing:
/// every table (except those a test names as legitimately changing, e.g. the failure counters) is compared
/// before and after the call. Counts the hostile cases run by this test run.
/// </summary>
public static class Refusals
{
    /// <summary>The brute-force counters: a refused code attempt is supposed to be counted there.</summary>
    public const string FailureCounters = "plandex_auth_failures";

    private static int _count;

    public static int Count => Volatile.Read(ref _count);

    public static async Task<TException> AssertRefusedAsync<TException>(TestDatabase db, Func<Task> call, params string[] mayChange)
        where TException : Exception
    {
        var before = await db.SnapshotAsync();
        var e = await Assert.ThrowsAsync<TException>(call);
        var after = await db.SnapshotAsync();
        AssertUnchanged(before, after, mayChange);
        AssertOneClearLine(e.Message);
        Interlocked.Increment(ref _count);
        return e;
    }

    public static void AssertUnchanged(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after,
        params string[] mayChange)
    {
        Assert.Equal(before.Keys.OrderBy(k => k), after.Keys.OrderBy(k => k));
        Assert.NotEmpty(before);
        var changed = before.Keys.Where(k => !mayChange.Contains(k) && before[k] != after[k]).ToList();
        Assert.True(changed.Count == 0,
            "a refused call changed the database: " + string.Join(", ", changed.Select(k => $"{k} ({before[k]} -> {after[k]})")));
    }

    public static void AssertOneClearLine(string message)
    {
        Assert.False(string.IsNullOrWhiteSpace(message), "the refusal has no message");
        Assert.DoesNotContain('\n', message);
        Assert.DoesNotContain("   at ", message);
    }
}
