using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace Quant.Cli.Demo;

/// <summary>Times an operation: a warm-up long enough for tiered JIT to install optimised code, then the median of repeated runs.</summary>
internal static class MedianTimer
{
    /// <summary>The median run time of <paramref name="run"/>, in seconds, and how many runs it took.</summary>
    /// <param name="run">The operation.</param>
    /// <param name="warmupSeconds">Time spent running before measuring (tier-1 code replaces tier-0 about 100 ms after a method gets hot).</param>
    /// <param name="budgetSeconds">Time spent measuring, at least <paramref name="minRuns"/> runs and at most <paramref name="maxRuns"/>.</param>
    /// <param name="minRuns">The fewest measured runs.</param>
    /// <param name="maxRuns">The most measured runs.</param>
    public static (double Seconds, int Runs) Median(Action run, double warmupSeconds, double budgetSeconds, int minRuns = 5, int maxRuns = 400)
    {
        long warmupEnd = Stopwatch.GetTimestamp() + (long)(warmupSeconds * Stopwatch.Frequency);
        int warm = 0;
        while (warm < 2 || Stopwatch.GetTimestamp() < warmupEnd)
        {
            run();
            warm++;
        }
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
}
