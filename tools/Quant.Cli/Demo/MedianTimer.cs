using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Runtime;
using System.Threading;

namespace Quant.Cli.Demo;

/// <summary>
/// Times an operation: a warm-up that lasts until the JIT has gone quiet, then the median of repeated runs.
/// </summary>
/// <remarks>
/// Tier-1 code is compiled on a background thread some 100 ms after a method gets hot, and later still
/// while other methods are still being compiled for the first time. On a two-core machine that thread
/// takes a core from a two-thread GEMV, so a measurement that overlaps it is several times too slow.
/// Waiting until <see cref="JitInfo.GetCompiledMethodCount"/> has stopped moving, and sleeping a
/// millisecond every few so that the compiler thread gets a core at all, avoids that.
/// </remarks>
internal static class MedianTimer
{
    // How long the JIT must have compiled nothing before timing starts, and the most warm-up allowed.
    private static readonly TimeSpan s_quietJit = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan s_maxWarmup = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan s_yieldEvery = TimeSpan.FromMilliseconds(10);

    /// <summary>The median run time of <paramref name="run"/>, in seconds, and how many runs it took.</summary>
    /// <param name="run">The operation.</param>
    /// <param name="warmupSeconds">The least time spent running before measuring.</param>
    /// <param name="budgetSeconds">Time spent measuring, at least <paramref name="minRuns"/> runs and at most <paramref name="maxRuns"/>.</param>
    /// <param name="minRuns">The fewest measured runs.</param>
    /// <param name="maxRuns">The most measured runs.</param>
    public static (double Seconds, int Runs) Median(Action run, double warmupSeconds, double budgetSeconds, int minRuns = 5, int maxRuns = 400)
    {
        Warmup(run, TimeSpan.FromSeconds(warmupSeconds));
        var times = new List<double>();
        long budgetEnd = Stopwatch.GetTimestamp() + (long)(budgetSeconds * Stopwatch.Frequency);
        while (times.Count < minRuns || (times.Count < maxRuns && Stopwatch.GetTimestamp() < budgetEnd))
        {
            long start = Stopwatch.GetTimestamp();
            run();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        times.Sort();
        int middle = times.Count / 2;
        double median = times.Count % 2 == 1 ? times[middle] : (times[middle - 1] + times[middle]) / 2;
        return (median, times.Count);
    }

    private static void Warmup(Action run, TimeSpan least)
    {
        long begin = Stopwatch.GetTimestamp();
        long compiled = JitInfo.GetCompiledMethodCount();
        long quietSince = begin, sleptAt = begin;
        for (int runs = 1; ; runs++)
        {
            run();
            long now = Stopwatch.GetTimestamp();
            if (Stopwatch.GetElapsedTime(sleptAt, now) >= s_yieldEvery)
            {
                // Give up the core now and then: the tier-1 compiler needs one, and the pool's workers spin.
                Thread.Sleep(1);
                now = sleptAt = Stopwatch.GetTimestamp();
            }
            long count = JitInfo.GetCompiledMethodCount();
            if (count != compiled)
            {
                compiled = count;
                quietSince = now;
            }
            TimeSpan elapsed = Stopwatch.GetElapsedTime(begin, now);
            if (elapsed >= s_maxWarmup) return;
            if (runs >= 2 && elapsed >= least && Stopwatch.GetElapsedTime(quietSince, now) >= s_quietJit) return;
        }
    }
}
