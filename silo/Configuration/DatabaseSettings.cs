using Npgsql;

namespace Plandex.Silo.Configuration;

/// <summary>Section "Database": the PostgreSQL that holds membership, grain state, reminders and our tables.</summary>
internal sealed class DatabaseSettings
{
    public const string Section = "Database";
    public string ConnectionString { get; set; } = "";
    /// <summary>
    /// Upper bound of each of this silo's two pools (ours and Orleans' providers'); keep the sum over silos below
    /// PostgreSQL's max_connections. Small on purpose: PostgreSQL runs as many statements at once as it has cores,
    /// and a burst that finds the pool busy opens a new connection per waiting statement, each a PostgreSQL process
    /// fork and an authentication. (With 100, 2,000 streams ending within seconds opened 160 connections at once and
    /// stalled every stream on the machine for up to 3 s; with 16 the burst waits its turn and nothing stalls.)
    /// </summary>
    public int MaxPoolSize { get; set; } = 16;

    public void Validate()
    {
        Require.NotEmpty(ConnectionString, "Database:ConnectionString");
        try
        {
            var b = new NpgsqlConnectionStringBuilder(ConnectionString);
            if (string.IsNullOrEmpty(b.Host)) throw new SettingsError("Database:ConnectionString", "has no Host");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            // The builder's message can quote the offending part; it never contains the whole string.
            throw new SettingsError("Database:ConnectionString", "is malformed (" + e.Message + ")");
        }
        if (MaxPoolSize is < 2 or > 1000) throw new SettingsError("Database:MaxPoolSize", "must be between 2 and 1000");
    }

    // No Reset On Close: Npgsql's DISCARD ALL on every return to the pool also threw away PostgreSQL's cached plans,
    // so every grain-state write re-planned the statements inside plx_storage_write (0.4–1.3 ms of the server's CPU
    // each, most of PostgreSQL's load while streams start). The silo leaves no session state on a connection: no SET,
    // no session advisory locks, no temporary tables; the ended-session listener (SessionChecks, which keeps one of
    // these connections for itself) UNLISTENs before it lets its connection go. An open transaction is still rolled
    // back on return.
    public string PooledConnectionString() =>
        new NpgsqlConnectionStringBuilder(ConnectionString) { MaxPoolSize = MaxPoolSize, NoResetOnClose = true }.ConnectionString;
}
