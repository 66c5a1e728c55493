using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// The "mistralrs" rule of mxfp4 against a reimplementation of mistral.rs' MXFP4Layer::quantize written
/// in this test (<see cref="Mxfp4Reference.MistralRsQuantize"/>): both planes bit for bit, on random data
/// and on blocks crafted to sit exactly on every rounding threshold.
/// </summary>
public sealed class Mxfp4MistralRsRuleTests(ITestOutputHelper output)
{
    private const int BlockSize = 32;

    private static readonly float[] s_thresholds = [0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f];

    public static TheoryData<ulong, Dist> SeedsAndDists()
    {
        var data = new TheoryData<ulong, Dist>();
        ulong seed = 200;
        foreach (var dist in TestData.AllDists)
        {
            data.Add(seed++, dist);
            data.Add(seed++, dist);
        }
        return data;
    }

    [Theory, MemberData(nameof(SeedsAndDists))]
    public void Mxfp4_MistralRsRule_RandomData_MatchesReimplementation(ulong seed, Dist dist)
    {
        var rng = new SplitMix64(seed);
        const int rows = 6, cols = BlockSize * 40;
        var data = TestData.Matrix(rng, rows, cols, dist);
        AssertMatches(data, rows, cols, $"seed {seed}, {dist}");
    }

    [Fact]
    public void Mxfp4_MistralRsRule_ValuesOnEveryThreshold_MatchReimplementation()
    {
        // amax = 6 * 2^s makes the scale exactly 2^s, so t * 2^s lands exactly on threshold t after
        // scaling; the neighbours one ulp either side must fall on either side of it.
        int[] exponents = [-127, -126, -100, -3, -1, 0, 1, 7, 100, 125];
        var blocks = new List<float[]>();
        foreach (int s in exponents)
        {
            float scale = MathF.ScaleB(1f, s);
            var block = new List<float> { 6f * scale, 0f, -0f };
            foreach (float t in s_thresholds)
            {
                block.Add(t * scale);
                block.Add(-t * scale);
                block.Add(MathF.BitDecrement(t) * scale);
                block.Add(MathF.BitIncrement(t) * scale);
            }
            while (block.Count < BlockSize) block.Add(-6f * scale);
            Assert.Equal(BlockSize, block.Count);
            blocks.Add([.. block]);
        }
        AssertMatches(Concat(blocks), blocks.Count, BlockSize, "threshold blocks");

        // The thresholds themselves, at scale 1: each tie goes to the larger magnitude.
        var row = Concat(blocks).AsSpan(BlockSize * Array.IndexOf(exponents, 0), BlockSize).ToArray();
        var quantized = Quantize(row, 1, BlockSize);
        Assert.Equal(127, quantized.Row(0).Plane1[0]);
        for (int k = 0; k < s_thresholds.Length; k++)
        {
            int at = 3 + 4 * k;
            Assert.True(k + 1 == Mxfp4Reference.CheckpointCode(quantized.Row(0).Plane0, at), $"threshold {s_thresholds[k]} must round up to magnitude index {k + 1}");
            Assert.True((k + 1 | 8) == Mxfp4Reference.CheckpointCode(quantized.Row(0).Plane0, at + 1), $"threshold -{s_thresholds[k]} must round to magnitude index {k + 1} with the sign bit");
            Assert.True(k == Mxfp4Reference.CheckpointCode(quantized.Row(0).Plane0, at + 2), $"just below {s_thresholds[k]} must round down to index {k}");
        }
    }

    [Fact]
    public void Mxfp4_MistralRsRule_ZeroAndNegativeZeroBlocks_MatchReimplementation()
    {
        var zeros = new float[BlockSize];
        var negativeZeros = new float[BlockSize];
        Array.Fill(negativeZeros, -0f);
        // Small negatives round to magnitude 0 but keep the sign bit (code 8); -0.0 does not get it.
        var smallNegatives = new float[BlockSize];
        for (int i = 0; i < BlockSize; i++) smallNegatives[i] = i % 2 == 0 ? -0.1f : -0f;
        smallNegatives[5] = 6f;
        float[] data = Concat([zeros, negativeZeros, smallNegatives]);
        AssertMatches(data, 3, BlockSize, "zero blocks");

        var q = Quantize(data, 3, BlockSize);
        for (int r = 0; r < 2; r++)
        {
            Assert.Equal(127, q.Row(r).Plane1[0]);
            Assert.All(q.Row(r).Plane0.ToArray(), b => Assert.Equal(0, b));
        }
        Assert.Equal(8, Mxfp4Reference.CheckpointCode(q.Row(2).Plane0, 0));
        Assert.Equal(0, Mxfp4Reference.CheckpointCode(q.Row(2).Plane0, 1));
    }

    [Fact]
    public void Mxfp4_MistralRsRule_TinyAndHugeBlocks_MatchReimplementation()
    {
        var rng = new SplitMix64(300);
        var blocks = new List<float[]>();
        float[] magnitudes = [1e-45f, 1e-42f, 1e-40f, 1.1754942e-38f, 1e-37f, MathF.ScaleB(1f, -120), 1e30f, 3e38f, float.MaxValue];
        foreach (float m in magnitudes)
        {
            var block = new float[BlockSize];
            // |N(0,1)| clipped to 1 keeps every value finite at float.MaxValue.
            for (int i = 0; i < BlockSize; i++) block[i] = (float)(Math.Clamp(rng.NextGaussian(), -1, 1) * m);
            block[rng.NextInt(BlockSize)] = rng.NextBool() ? m : -m;
            blocks.Add(block);
        }
        var data = Concat(blocks);
        AssertMatches(data, blocks.Count, BlockSize, "tiny and huge blocks");

        var q = Quantize(data, blocks.Count, BlockSize);
        Assert.Equal(0, q.Row(0).Plane1[0]);                  // amax 1e-45: floor(log2(amax / 6)) far below -127, clamped to 0
        Assert.Equal(252, q.Row(blocks.Count - 1).Plane1[0]); // amax = float.MaxValue: floor(log2(5.67e37)) + 127
        output.WriteLine($"scales: {string.Join(", ", CollectScales(q))}");
    }

    [Fact]
    public void Mxfp4_MistralRsRule_NaNElements_MatchReimplementation()
    {
        var rng = new SplitMix64(301);
        var withNaN = new float[BlockSize];
        for (int i = 0; i < BlockSize; i++) withNaN[i] = (float)rng.NextGaussian();
        withNaN[3] = float.NaN;
        withNaN[4] = BitConverter.UInt32BitsToSingle(0xFFC00000); // a NaN with the sign bit set
        var allNaN = new float[BlockSize];
        Array.Fill(allNaN, float.NaN);
        var data = Concat([withNaN, allNaN]);
        AssertMatches(data, 2, BlockSize, "NaN blocks");

        var q = Quantize(data, 2, BlockSize);
        Assert.Equal(7, Mxfp4Reference.CheckpointCode(q.Row(0).Plane0, 3)); // NaN is ignored by amax and rounds to 7
        Assert.Equal(7, Mxfp4Reference.CheckpointCode(q.Row(0).Plane0, 4)); // -NaN: 7, no sign bit (NaN < 0 is false)
        Assert.Equal(127, q.Row(1).Plane1[0]);                               // all NaN: amax 0, scale 127
    }

    /// <summary>
    /// An infinite element makes amax infinite. mistral.rs computes <c>floor(log2(inf)) as i32 + 127</c>: the cast
    /// saturates to i32::MAX and the addition wraps to a negative number in a release build (a debug build
    /// panics), so the clamp gives 0. The rule reproduces the release build.
    /// </summary>
    [Fact]
    public void Mxfp4_MistralRsRule_InfiniteElement_WrapsToScaleZero_AsAReleaseBuildOfMistralRs()
    {
        var rng = new SplitMix64(302);
        var blocks = new List<float[]>();
        foreach (float inf in new[] { float.PositiveInfinity, float.NegativeInfinity })
        {
            var block = new float[BlockSize];
            for (int i = 0; i < BlockSize; i++) block[i] = (float)rng.NextGaussian();
            block[7] = inf;
            blocks.Add(block);
        }
        var data = Concat(blocks);
        AssertMatches(data, blocks.Count, BlockSize, "blocks with an infinite element");
        var q = Quantize(data, blocks.Count, BlockSize);
        Assert.Equal(0, q.Row(0).Plane1[0]);
    }

    private static IEnumerable<byte> CollectScales(QuantMatrix q)
    {
        for (int r = 0; r < q.Rows; r++) yield return q.Row(r).Plane1[0];
    }

    private static QuantMatrix Quantize(float[] data, int rows, int cols)
    {
        var entry = TestFormats.Get("mxfp4");
        return TestFormats.Quantize(entry, data, rows, cols, entry.Info.FindRule("mistralrs"));
    }

    private static void AssertMatches(float[] data, int rows, int cols, string context)
    {
        var actual = Quantize(data, rows, cols);
        var blocks = new byte[rows * cols / 2];
        var scales = new byte[rows * cols / BlockSize];
        for (int r = 0; r < rows; r++)
        {
            Mxfp4Reference.MistralRsQuantize(data.AsSpan(r * cols, cols), blocks.AsSpan(r * cols / 2, cols / 2), scales.AsSpan(r * cols / BlockSize, cols / BlockSize));
        }
        Check.BytesEqual(scales, actual.Plane(1).Span, $"{context}: mistralrs scales plane", cols / BlockSize);
        Check.BytesEqual(blocks, actual.Plane(0).Span, $"{context}: mistralrs blocks plane (16 bytes per block)", 16);
    }

    private static float[] Concat(IReadOnlyList<float[]> blocks)
    {
        var all = new List<float>();
        foreach (var b in blocks) all.AddRange(b);
        return [.. all];
    }
}
