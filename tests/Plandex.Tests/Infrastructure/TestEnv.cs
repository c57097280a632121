namespace Plandex.Tests.Infrastructure;

/// <summary>What tests/run.sh provides: the throwaway PostgreSQL and the built binaries.</summary>
public static class TestEnv
{
    public static string PgAdmin => Require("PLANDEX_TEST_PG_ADMIN");
    public static string PgApp => Require("PLANDEX_TEST_PG_APP");
    public static string PgDataDir => Require("PLANDEX_TEST_PG_DATA");
    public static string PgBin => Require("PLANDEX_TEST_PG_BIN");
    public static string WorkDir => Require("PLANDEX_TEST_WORK");
    public static string SiloDll => Require("PLANDEX_SILO_DLL");
    public static string CliDll => Require("PLANDEX_CLI_DLL");

    public static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "Plandex.Actors.sln"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    public static string NewWorkDir(string prefix)
    {
        var dir = Path.Combine(WorkDir, $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Require(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v
        : throw new InvalidOperationException($"{name} is not set: run the tests with tests/run.sh");
}
