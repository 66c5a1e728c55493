using System;
using System.Threading;
using System.Threading.Tasks;
using Quant.Formats.Tests.Support;

namespace Quant.Runtime.Tests;

/// <summary>Seeded data for the collectives and a guard that turns a hang into a failure.</summary>
internal static class CommTestSupport
{
    /// <summary>How long any one comm test may take before it counts as hung.</summary>
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Runs <paramref name="work"/> on another thread and returns its result, or fails the test when it
    /// does not finish within <see cref="HangLimit"/> (a deadlock fails instead of blocking the run).
    /// </summary>
    public static T WithinLimit<T>(Func<T> work, string what)
    {
        var task = Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(task.Wait(HangLimit), $"{what} did not finish within {HangLimit.TotalSeconds} s: a collective hangs.");
        return task.Result;
    }

    /// <inheritdoc cref="WithinLimit{T}(Func{T}, string)"/>
    public static void WithinLimit(Action work, string what) => WithinLimit(() =>
    {
        work();
        return 0;
    }, what);

    /// <summary>
    /// Rank <paramref name="rank"/>'s values of one round: random signs, mantissas and exponents over 40
    /// binades, so that a sum taken in another order than rank order gives other bits.
    /// </summary>
    public static float[] Values(ulong seed, int round, int rank, int length)
    {
        var rng = new SplitMix64(seed ^ (ulong)round * 0x9E3779B97F4A7C15UL ^ (ulong)rank * 0xD1B54A32D192ED03UL);
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            ulong bits = rng.NextU64();
            uint exponent = (uint)(107 + (int)((bits >> 23) % 41));
            values[i] = BitConverter.UInt32BitsToSingle((uint)(bits >> 63) << 31 | exponent << 23 | (uint)(bits & 0x7FFFFF));
        }
        return values;
    }

    /// <summary>The reference: <c>((v0 + v1) + v2) + ...</c> in float32, element by element, starting from rank 0's value.</summary>
    public static float[] RankOrderedSum(float[][] perRank)
    {
        var sum = (float[])perRank[0].Clone();
        for (int r = 1; r < perRank.Length; r++)
        {
            for (int i = 0; i < sum.Length; i++) sum[i] += perRank[r][i];
        }
        return sum;
    }

    /// <summary>The index of the first element whose bits differ, or -1.</summary>
    public static int FirstBitDifference(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) return Math.Min(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
        {
            if (BitConverter.SingleToUInt32Bits(a[i]) != BitConverter.SingleToUInt32Bits(b[i])) return i;
        }
        return -1;
    }
}
