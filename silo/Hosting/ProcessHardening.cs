using System.Runtime.InteropServices;

namespace Plandex.Silo.Hosting;

/// <summary>
/// Keeps provider keys from reaching disk through the process itself: no core dump on a crash (RLIMIT_CORE = 0,
/// set here, inherited by nothing else), and a warning when the runtime's diagnostics (debugger, profiler,
/// EventPipe attach) or its crash-dump writer are enabled. Swap is the operator's: see the README.
/// </summary>
internal static partial class ProcessHardening
{
    public static IReadOnlyList<string> Apply()
    {
        var warnings = new List<string>();
        if (OperatingSystem.IsLinux())
        {
            var none = new RLimit { Current = 0, Max = 0 };
            if (SetRLimit(RLimitCore, ref none) != 0) warnings.Add("could not disable core dumps (setrlimit RLIMIT_CORE failed)");
        }
        if (Environment.GetEnvironmentVariable("DOTNET_DbgEnableMiniDump") is "1")
            warnings.Add("DOTNET_DbgEnableMiniDump=1 writes a dump of process memory (which can hold keys) on a crash: unset it");
        if (Environment.GetEnvironmentVariable("DOTNET_EnableDiagnostics") is not "0")
            warnings.Add("DOTNET_EnableDiagnostics is not 0: debuggers and profilers can attach to this process (set it to 0 in production)");
        return warnings;
    }

    private const int RLimitCore = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, ref RLimit limit);
}
