namespace Plandex.Benchmarks;

/// <summary>Benchmarks as subcommands: <c>dotnet run -c Release --project tests/Plandex.Benchmarks -- &lt;name&gt; [options]</c>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string command = args.Length > 0 ? args[0] : "";
        string[] rest = args.Length > 0 ? args[1..] : [];
        switch (command)
        {
            case "ignore":
                return IgnoreBenchmark.Run(rest);
            case "streams":
                return StreamBenchmark.Run(rest);
            case "retention":
                return RetentionBenchmark.Run(rest);
            case "reader":
                return ReaderBenchmark.Run(rest);
            case "machine":
                return MachineCosts.Run(rest);
            default:
                Console.Error.WriteLine("usage: Plandex.Benchmarks <benchmark> [options]");
                Console.Error.WriteLine("  ignore [--files N] [--runs N] [--dir PATH]   LsFiles vs git ls-files --others --exclude-standard");
                Console.Error.WriteLine("  retention [--keys N] [--plans N] [--no-build]   re-wrap N data keys; delete an account with N plans");
                Console.Error.WriteLine("  reader [--events N] [--reps N]   the provider reader alone vs HttpClient, on one canned reply");
                Console.Error.WriteLine("  machine   what a system call, a cross-process round trip and a fresh page cost here");
                Console.Error.WriteLine("  streams [--streams N] [--max N] [--step N] [--quick] [--no-build]   full stream path vs the stub read directly");
                return 2;
        }
    }
}
