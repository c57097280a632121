using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Plandex.Benchmarks;

/// <summary>
/// What the kernel costs on this machine, so figures taken on different VMs can be compared: the relay's full path
/// makes more system calls, cross-process wake-ups and fresh pages than reading the stub directly, so a VM where
/// those are dear (a nested or PVM guest) moves every "full vs direct" ratio (PERF-NOTES, twenty-fourth session).
/// Run alone (<c>machine</c>) or before the stream benchmark starts its processes.
/// </summary>
public static partial class MachineCosts
{
    public sealed record Result(double SyscallUs, double RoundTripUs, double PageFaultUs)
    {
        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"kernel costs measured here: a system call {SyscallUs:N2} µs, a cross-process round trip {RoundTripUs:N1} µs, the first touch of a page {PageFaultUs:N1} µs");
    }

    public static int Run(string[] args)
    {
        if (args.Length > 0)
        {
            Console.Error.WriteLine("machine: takes no options");
            return 2;
        }
        Console.WriteLine(Measure());
        Console.WriteLine("Command: `dotnet run -c Release --project tests/Plandex.Benchmarks -- machine`");
        return 0;
    }

    /// <summary>Each figure is the median of five rounds.</summary>
    public static Result Measure() => new(Median(SyscallUs), Median(RoundTripUs), Median(PageFaultUs));

    private static double Median(Func<double> round)
    {
        var v = Enumerable.Range(0, 5).Select(_ => round()).Order().ToArray();
        return v[v.Length / 2];
    }

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentProcessId();

    private static double SyscallUs()
    {
        const int n = 100_000;
        var t = Stopwatch.GetTimestamp();
        for (var i = 0; i < n; i++) GetParentProcessId();
        return Stopwatch.GetElapsedTime(t).TotalMicroseconds / n;
    }

    /// <summary>One byte through <c>cat</c> and back: each round trip wakes the other process, then this one.</summary>
    private static double RoundTripUs()
    {
        const int n = 2_000;
        using var cat = Process.Start(new ProcessStartInfo("cat") { RedirectStandardInput = true, RedirectStandardOutput = true })
            ?? throw new InvalidOperationException("could not start cat");
        var into = cat.StandardInput.BaseStream;
        var back = cat.StandardOutput.BaseStream;
        var one = new byte[1];
        long t = 0;
        for (var i = -100; i < n; i++) // 100 unmeasured round trips first
        {
            if (i == 0) t = Stopwatch.GetTimestamp();
            into.Write(one);
            into.Flush();
            if (back.Read(one) != 1) throw new InvalidOperationException("cat closed its output");
        }
        var us = Stopwatch.GetElapsedTime(t).TotalMicroseconds / n;
        cat.StandardInput.Close();
        cat.WaitForExit();
        return us;
    }

    private static unsafe double PageFaultUs()
    {
        const int pages = 10_000;
        const int page = 4096;
        // Large enough that the allocator maps fresh memory from the kernel, so every first write faults.
        var p = (byte*)NativeMemory.Alloc((nuint)pages * page);
        try
        {
            var t = Stopwatch.GetTimestamp();
            for (var i = 0; i < pages; i++) p[(long)i * page] = 1;
            return Stopwatch.GetElapsedTime(t).TotalMicroseconds / pages;
        }
        finally { NativeMemory.Free(p); }
    }
}
