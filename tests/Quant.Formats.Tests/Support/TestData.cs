using System;

namespace Quant.Formats.Tests.Support;

/// <summary>The distributions tests draw weights and activations from.</summary>
public enum Dist
{
    /// <summary>N(0, 1).</summary>
    Gaussian,
    /// <summary>Cauchy (ratio of two normals), clipped to +-1e4.</summary>
    HeavyTailed,
    /// <summary>N(0, 0.02) with about 1 % of the values multiplied by 50.</summary>
    Outliers,
    /// <summary>N(0, 1) * 1e-30.</summary>
    Tiny,
    /// <summary>Per 32-value chunk, one of the block kinds below: zeros, ties, constants, outliers, tiny, huge...</summary>
    Mixed,
}

/// <summary>Seeded float data for the tests; every generator is a pure function of the seed.</summary>
internal static class TestData
{
    /// <summary>Every distribution, for sweeping.</summary>
    public static readonly Dist[] AllDists = [Dist.Gaussian, Dist.HeavyTailed, Dist.Outliers, Dist.Tiny, Dist.Mixed];

    /// <summary>A <paramref name="rows"/> x <paramref name="cols"/> matrix (row-major) drawn from <paramref name="dist"/>.</summary>
    public static float[] Matrix(SplitMix64 rng, int rows, int cols, Dist dist)
    {
        var data = new float[checked(rows * cols)];
        Fill(rng, data, dist);
        return data;
    }

    public static void Fill(SplitMix64 rng, Span<float> data, Dist dist)
    {
        switch (dist)
        {
            case Dist.Gaussian:
                for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextGaussian();
                break;
            case Dist.HeavyTailed:
                for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextCauchy();
                break;
            case Dist.Outliers:
                for (int i = 0; i < data.Length; i++)
                {
                    double v = 0.02 * rng.NextGaussian();
                    if (rng.NextDouble() < 0.01) v *= 50;
                    data[i] = (float)v;
                }
                break;
            case Dist.Tiny:
                for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextGaussian() * 1e-30);
                break;
            case Dist.Mixed:
                for (int start = 0; start < data.Length; start += 32)
                {
                    var chunk = data.Slice(start, Math.Min(32, data.Length - start));
                    FillChunk(rng, chunk, (ChunkKind)rng.NextInt(ChunkKindCount));
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dist));
        }
    }

    private const int ChunkKindCount = 14;

    /// <summary>The kinds of 32-value chunk the mixed distribution strings together.</summary>
    internal enum ChunkKind
    {
        Gaussian, Cauchy, Outliers, Zeros, NegativeZeros, Constant, OneHot, Tiny, TinyWithOne, Huge,
        /// <summary>Multiples of 0.5 in [-127, 127] with one +-127: q8_0's scale is 1, so x / d lands on .5 ties.</summary>
        Q8Ties,
        /// <summary>Multiples of 0.25 in [-6, 6] with one +-6: the MX scale is 1, so values sit on the E2M1 midpoints.</summary>
        MxTies,
        /// <summary>Multiples of 0.5 in [-7.5, 7.5] with one -8: q4_0's scale is 1, so x / d + 8.5 lands exactly on an integer (the truncation boundary).</summary>
        Q4Ties,
        Ramp,
    }

    public static void FillChunk(SplitMix64 rng, Span<float> chunk, ChunkKind kind)
    {
        int n = chunk.Length;
        switch (kind)
        {
            case ChunkKind.Gaussian:
                for (int i = 0; i < n; i++) chunk[i] = (float)rng.NextGaussian();
                break;
            case ChunkKind.Cauchy:
                for (int i = 0; i < n; i++) chunk[i] = (float)rng.NextCauchy();
                break;
            case ChunkKind.Outliers:
                for (int i = 0; i < n; i++) chunk[i] = (float)(0.02 * rng.NextGaussian());
                chunk[rng.NextInt(n)] *= 1000f;
                break;
            case ChunkKind.Zeros:
                chunk.Clear();
                break;
            case ChunkKind.NegativeZeros:
                chunk.Fill(-0f);
                break;
            case ChunkKind.Constant:
                chunk.Fill((float)(rng.NextGaussian() * 4));
                break;
            case ChunkKind.OneHot:
                chunk.Clear();
                chunk[rng.NextInt(n)] = (float)(rng.NextGaussian() * 3);
                break;
            case ChunkKind.Tiny:
                for (int i = 0; i < n; i++) chunk[i] = (float)(rng.NextGaussian() * 1e-30);
                break;
            case ChunkKind.TinyWithOne:
                for (int i = 0; i < n; i++) chunk[i] = (float)(rng.NextGaussian() * 1e-30);
                chunk[rng.NextInt(n)] = 1f;
                break;
            case ChunkKind.Huge:
                // Within what an F16 scale of q4_0 / q8_0 can still hold (ggml's edge case 5 uses the same range).
                for (int i = 0; i < n; i++) chunk[i] = (float)((rng.NextBool() ? 1 : -1) * (3e4 + rng.NextDouble() * 3.5e4));
                break;
            case ChunkKind.Q8Ties:
                for (int i = 0; i < n; i++) chunk[i] = rng.NextInt(-254, 254) * 0.5f;
                chunk[rng.NextInt(n)] = rng.NextBool() ? 127f : -127f;
                break;
            case ChunkKind.MxTies:
                for (int i = 0; i < n; i++) chunk[i] = rng.NextInt(-24, 24) * 0.25f;
                chunk[rng.NextInt(n)] = rng.NextBool() ? 6f : -6f;
                break;
            case ChunkKind.Q4Ties:
                for (int i = 0; i < n; i++) chunk[i] = rng.NextInt(-15, 15) * 0.5f;
                chunk[rng.NextInt(n)] = -8f;
                break;
            case ChunkKind.Ramp:
                for (int i = 0; i < n; i++) chunk[i] = -1f + 2f * i / Math.Max(1, n - 1);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }
}
