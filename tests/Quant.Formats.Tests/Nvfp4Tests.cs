using System;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Numerics;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// NVFP4 in the ModelOpt checkpoint layout (<c>weight</c> U8 <c>[N, K/2]</c>, element 2i in the low nibble;
/// <c>weight_scale</c> E4M3 per 16 elements; <c>weight_scale_2</c> one F32 per tensor) against float64
/// references written here: dequantization is <c>e2m1 * (e4m3 * weight_scale_2)</c>; quantization picks the
/// tensor scale <c>amax / (6 * 448)</c> and each block scale as the E4M3 round-to-nearest-even encoding of
/// <c>block amax / 6 / tensor scale</c>.
/// </summary>
public sealed class Nvfp4Tests(ITestOutputHelper output)
{
    private const int BlockSize = 16;

    private static readonly MinifloatLayout s_e2m1 = MinifloatLayout.E2M1;
    private static readonly MinifloatLayout s_e4m3 = MinifloatLayout.E4M3;

    /// <summary>
    /// Random codes, random block scales (NaN codes included) and tensor scales across the float32 range.
    /// The reference multiplies in float64 with the block scale <c>e4m3 * weight_scale_2</c> rounded to float32
    /// first, as the checkpoint's consumers do (ModelOpt and TensorRT-LLM form the per-block scale as a float32
    /// tensor); a second check bounds the difference from the unrounded triple product by two float32 ulps (the
    /// scale's rounding, carried through a product by up to 6, and the product's own) wherever that block scale is
    /// a normal float32 (a subnormal one has lost its low bits already).
    /// </summary>
    [Theory]
    [InlineData(3101UL)]
    [InlineData(3102UL)]
    [InlineData(3103UL)]
    public void Dequantize_RandomCodesAndScales_EqualsFloat64E2M1TimesE4M3TimesTensorScale(ulong seed)
    {
        var rng = new SplitMix64(seed);
        var entry = TestFormats.Get("nvfp4");
        const int rows = 3, cols = 16 * BlockSize;
        var failures = new FailureLog();
        int doubleRoundings = 0;
        for (int trial = 0; trial < 40; trial++)
        {
            var matrix = new QuantMatrix(entry.Info, rows, cols);
            rng.NextBytes(matrix.Plane(0).Span);
            rng.NextBytes(matrix.Plane(1).Span);
            float tensorScale = TensorScale(rng, trial);
            BitConverter.TryWriteBytes(matrix.Plane(2).Span, tensorScale);

            var expected = new float[rows * cols];
            var exact = new double[rows * cols];
            var codes = CodePacking.UnpackLsbFirst(matrix.Plane(0).Span, 4, rows * cols);
            for (int i = 0; i < expected.Length; i++)
            {
                int block = i / BlockSize;
                double blockScale = s_e4m3.Value(matrix.Plane(1).Span[block]) * (double)tensorScale;
                // Code 8 (E2M1's -0) is +0 in the library's integer table, as for mxfp4 (see MinifloatDecodeTests).
                double e2m1 = codes[i] == 8 ? 0.0 : s_e2m1.Value(codes[i]);
                expected[i] = (float)(e2m1 * (double)(float)blockScale);
                exact[i] = e2m1 * blockScale;
            }
            foreach (var level in TestFormats.Levels)
            {
                var got = TestFormats.Dequantize(entry, matrix, level);
                string context = $"seed {seed}, trial {trial}, weight_scale_2 = {Check.Show(tensorScale)}, {level}";
                failures.Run(() => Check.BitsEqual(expected, got, context, cols));
                if (level != SimdLevel.Scalar) continue;
                for (int i = 0; i < got.Length; i++)
                {
                    if (!double.IsFinite(exact[i]) || (float)exact[i] == got[i]) continue;
                    if (Math.Abs((float)(s_e4m3.Value(matrix.Plane(1).Span[i / BlockSize]) * (double)tensorScale)) < MathF.ScaleB(1f, -126)) continue;
                    doubleRoundings++;
                    double ulp = Math.Abs(MathF.BitIncrement(Math.Abs(got[i])) - Math.Abs(got[i]));
                    int at = i;
                    failures.Run(() => Assert.True(Math.Abs(got[at] - exact[at]) <= 2 * ulp,
                        $"{context}, element {at}: {Check.Show(got[at])} is more than two float32 ulps from the exact {exact[at]:R}"));
                }
            }
        }
        output.WriteLine($"seed {seed}: {doubleRoundings} elements where rounding the block scale to float32 first changed the last bit");
        failures.ThrowIfAny();
    }

    [Fact]
    public void Dequantize_PowerOfTwoTensorScale_EqualsTheExactTripleProduct()
    {
        var rng = new SplitMix64(3110);
        var entry = TestFormats.Get("nvfp4");
        const int cols = 8 * BlockSize;
        foreach (int p in new[] { -40, -9, 0, 7, 30 })
        {
            var matrix = new QuantMatrix(entry.Info, 2, cols);
            rng.NextBytes(matrix.Plane(0).Span);
            var scales = matrix.Plane(1).Span;
            for (int i = 0; i < scales.Length; i++) scales[i] = (byte)rng.NextInt(0x7F); // positive, finite
            BitConverter.TryWriteBytes(matrix.Plane(2).Span, MathF.ScaleB(1f, p));
            var codes = CodePacking.UnpackLsbFirst(matrix.Plane(0).Span, 4, 2 * cols);
            var expected = new float[2 * cols];
            for (int i = 0; i < expected.Length; i++)
            {
                expected[i] = codes[i] == 8 ? 0f : (float)(s_e2m1.Value(codes[i]) * s_e4m3.Value(scales[i / BlockSize]) * Math.ScaleB(1.0, p));
            }
            foreach (var level in TestFormats.Levels)
            {
                Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"seed 3110, weight_scale_2 = 2^{p}, {level}", cols);
            }
        }
    }

    [Theory]
    [InlineData(3201UL, Dist.Gaussian)]
    [InlineData(3202UL, Dist.HeavyTailed)]
    [InlineData(3203UL, Dist.Outliers)]
    [InlineData(3204UL, Dist.Mixed)]
    public void Quantize_TensorScaleIsAmaxOver6x448_BlockScalesAreE4M3RneOfBlockAmaxOver6OverTensorScale(ulong seed, Dist dist)
    {
        var rng = new SplitMix64(seed);
        var kernels = FormatKernels.For("nvfp4");
        const int rows = 9, cols = 24 * BlockSize;
        var weights = TestData.Matrix(rng, rows, cols, dist);
        var failures = new FailureLog();
        foreach (int threads in new[] { 1, 2 })
        {
            var matrix = kernels.Quantize(weights, rows, cols, threads: threads);
            double amax = 0;
            foreach (float w in weights) amax = Math.Max(amax, Math.Abs(w));
            float tensorScale = BitConverter.ToSingle(matrix.Plane(2).Span);
            float expectedTensorScale = (float)(amax / (6.0 * 448.0));
            string context = $"seed {seed}, {dist}, {threads} threads";
            failures.Run(() => ExactBits.Equal(expectedTensorScale, tensorScale, $"{context}: weight_scale_2 = amax / (6 x 448), amax {amax:R}"));

            int nearTies = 0, blocks = rows * cols / BlockSize;
            var codes = CodePacking.UnpackLsbFirst(matrix.Plane(0).Span, 4, rows * cols);
            for (int b = 0; b < blocks; b++)
            {
                var x = weights.AsSpan(b * BlockSize, BlockSize);
                double blockAmax = 0;
                foreach (float v in x) blockAmax = Math.Max(blockAmax, Math.Abs(v));
                int expectedScale = tensorScale == 0 ? 0 : s_e4m3.Encode(blockAmax / 6 / tensorScale, MinifloatOverflow.Saturate);
                int gotScale = matrix.Plane(1).Span[b];
                int block = b;
                failures.Run(() => Assert.True(gotScale == expectedScale,
                    $"{context}, block {block}: weight_scale 0x{gotScale:X2} ({s_e4m3.Value(gotScale):R}), expected E4M3(block amax {blockAmax:R} / 6 / {tensorScale:R}) = 0x{expectedScale:X2} ({s_e4m3.Value(expectedScale):R})"));

                // Elements: the nearest E2M1 code to x / d, d = e4m3 * weight_scale_2 in float32, saturating. The quantizer
                // multiplies by a float32 reciprocal of d, so within a few float32 ulps of a midpoint either neighbour is allowed.
                double d = (float)(s_e4m3.Value(gotScale) * tensorScale);
                for (int i = 0; i < BlockSize; i++)
                {
                    double scaled = d == 0 ? 0 : x[i] / d;
                    int expected = s_e2m1.Encode(scaled, MinifloatOverflow.Saturate);
                    int got = codes[b * BlockSize + i];
                    if (got == expected || (got & 7) == 0 && (expected & 7) == 0) continue;
                    if (NearMidpoint(scaled, got, expected))
                    {
                        nearTies++;
                        continue;
                    }
                    float value = x[i];
                    int element = i;
                    failures.Run(() => Assert.Fail($"{context}, block {block}, element {element}: x = {Check.Show(value)}, x / d = {scaled:R}: code 0x{got:X} ({s_e2m1.Value(got)}), expected 0x{expected:X} ({s_e2m1.Value(expected)})"));
                }
            }
            if (threads == 1) output.WriteLine($"{context}: {blocks} blocks, {nearTies} elements within float32 rounding of an E2M1 midpoint");
        }
        failures.ThrowIfAny();
    }

    /// <summary>
    /// With amax = 2688 the tensor scale is exactly 1, and a block whose amax is 6 gets block scale E4M3(1) = 1, so
    /// its other elements, placed on the midpoints between E2M1 values, are exact ties: they round to the even code.
    /// </summary>
    [Fact]
    public void Quantize_ElementsOnE2M1Midpoints_RoundToTheEvenCode()
    {
        var rng = new SplitMix64(3210);
        const int cols = 8 * BlockSize;
        var weights = new float[cols];
        weights[0] = 2688f; // block 0 fixes the tensor scale
        float[] midpoints = [0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5f];
        for (int b = 1; b < 8; b++)
        {
            for (int i = 0; i < BlockSize; i++) weights[b * BlockSize + i] = midpoints[rng.NextInt(midpoints.Length)] * (rng.NextBool() ? 1 : -1);
            weights[b * BlockSize + rng.NextInt(BlockSize)] = 6f;
        }
        var matrix = FormatKernels.For("nvfp4").Quantize(weights, 1, cols);
        Assert.Equal(1f, BitConverter.ToSingle(matrix.Plane(2).Span));
        var codes = CodePacking.UnpackLsbFirst(matrix.Plane(0).Span, 4, cols);
        for (int i = BlockSize; i < cols; i++)
        {
            Assert.Equal(0x38, matrix.Plane(1).Span[i / BlockSize]);
            int expected = s_e2m1.Encode(weights[i], MinifloatOverflow.Saturate);
            Assert.True(codes[i] == expected, $"seed 3210, element {i}: x = {weights[i]} gives code 0x{codes[i]:X} ({s_e2m1.Value(codes[i])}), expected the even code 0x{expected:X} ({s_e2m1.Value(expected)})");
        }
    }

    [Fact]
    public void Quantize_AllZeroTensor_IsAllZeroBytes()
    {
        var matrix = FormatKernels.For("nvfp4").Quantize(new float[2 * 4 * BlockSize], 2, 4 * BlockSize);
        for (int p = 0; p < 3; p++) Assert.All(matrix.Plane(p).ToArray(), b => Assert.Equal(0, b));
    }

    /// <summary>Tensor scales from subnormal to large, with random mantissas, and some powers of two.</summary>
    private static float TensorScale(SplitMix64 rng, int trial)
    {
        if (trial % 5 == 0) return MathF.ScaleB(1f, rng.NextInt(-30, 30));
        int exponent = trial % 7 == 1 ? rng.NextInt(-149, -127) : rng.NextInt(-60, 40);
        return (float)((1 + rng.NextDouble()) * Math.ScaleB(1.0, exponent));
    }

    /// <summary>True when x / d lies within float32 rounding (a relative 2^-21) of the midpoint between the two codes' values.</summary>
    private static bool NearMidpoint(double scaled, int a, int b)
    {
        double va = s_e2m1.Value(a), vb = s_e2m1.Value(b);
        if (Math.Sign(va) * Math.Sign(vb) < 0) return false;
        double midpoint = (va + vb) / 2;
        return Math.Abs(scaled - midpoint) <= Math.Abs(midpoint) * Math.ScaleB(1.0, -21);
    }
}
