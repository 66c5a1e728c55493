using System;
using System.Threading.Tasks;

namespace Quant.Cli.Demo;

/// <summary>
/// Seeded N(0, 1) samples: splitmix64 for the uniforms, Box-Muller for the normals. Each row has its own
/// stream derived from (seed, row), so the matrix is the same whatever the thread count, and the same on
/// every .NET version (System.Random's seeded sequence is not promised to stay the same).
/// </summary>
internal static class Gaussian
{
    /// <summary>Fills <paramref name="destination"/> (<paramref name="rows"/> rows of <paramref name="columns"/>) with N(0, 1) samples, rows in parallel.</summary>
    public static void Fill(float[] destination, int rows, int columns, ulong seed)
    {
        if ((long)rows * columns != destination.Length) throw new ArgumentException("The destination does not hold rows x columns floats.", nameof(destination));
        Parallel.For(0, rows, row => FillRow(destination.AsSpan(row * columns, columns), Mix(seed, (ulong)row)));
    }

    /// <summary>Fills one stream of N(0, 1) samples.</summary>
    public static void FillRow(Span<float> destination, ulong state)
    {
        for (int i = 0; i < destination.Length; i += 2)
        {
            // 53-bit uniforms in (0, 1]: log of the first never sees 0.
            double u1 = ((Next(ref state) >> 11) + 1) * (1.0 / (1UL << 53));
            double u2 = (Next(ref state) >> 11) * (1.0 / (1UL << 53));
            double radius = Math.Sqrt(-2.0 * Math.Log(u1));
            var (sin, cos) = Math.SinCos(2.0 * Math.PI * u2);
            destination[i] = (float)(radius * cos);
            if (i + 1 < destination.Length) destination[i + 1] = (float)(radius * sin);
        }
    }

    /// <summary>A stream state for (seed, stream): distinct streams for distinct pairs.</summary>
    public static ulong Mix(ulong seed, ulong stream)
    {
        ulong state = seed ^ (stream * 0xD1B54A32D192ED03UL);
        return Next(ref state);
    }

    private static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
