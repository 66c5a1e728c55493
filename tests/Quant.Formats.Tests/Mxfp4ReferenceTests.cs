using System;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// mxfp4 (GPT-OSS / mistral.rs checkpoint layout) against a float64 decoder written here, and against
/// ggml's record layout (mxfp4_ggml): the same data quantized by both gives the same exponents, the same
/// codes after re-layout, and the same floats.
/// </summary>
public sealed class Mxfp4ReferenceTests(ITestOutputHelper output)
{
    private const int BlockSize = 32;

    private static readonly int[] s_edgeExponents = [0, 1, 2, 127, 254];

    public static TheoryData<ulong> Seeds() => new() { 11UL, 12UL, 13UL };

    [Theory, MemberData(nameof(Seeds))]
    public void Mxfp4_Dequantize_RandomCodesAndScales_MatchFloat64Reference(ulong seed)
    {
        var rng = new SplitMix64(seed);
        var entry = TestFormats.Get("mxfp4");
        const int rows = 7, cols = BlockSize * 37;
        var matrix = new QuantMatrix(entry.Info, rows, cols);
        rng.NextBytes(matrix.Plane(0).Span);
        var scales = matrix.Plane(1).Span;
        for (int i = 0; i < scales.Length; i++)
        {
            // A quarter of the blocks on the edge exponents (subnormal scales, 1, the largest finite), the rest anywhere below 255.
            scales[i] = rng.NextInt(4) == 0 ? (byte)s_edgeExponents[rng.NextInt(s_edgeExponents.Length)] : (byte)rng.NextInt(255);
        }

        var expected = Reference(matrix);
        foreach (var level in TestFormats.Levels)
        {
            Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"seed {seed}: mxfp4 dequantize at {level}", cols);
        }
    }

    [Fact]
    public void Mxfp4_Dequantize_EveryCodeAtEdgeExponents_MatchesFloat64Reference()
    {
        var entry = TestFormats.Get("mxfp4");
        int[] exponents = [0, 1, 2, 3, 125, 126, 127, 128, 253, 254];
        var matrix = EveryCodeMatrix(entry, exponents);
        var expected = Reference(matrix);
        foreach (var level in TestFormats.Levels)
        {
            Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"every code x e in {{{string.Join(", ", exponents)}}} at {level}", matrix.Columns);
        }
    }

    /// <summary>
    /// Code 8 is E2M1's negative zero. The library maps E2M1 codes through ggml's integer table, whose zero has
    /// no sign, so code 8 dequantizes to +0.0, and every level must agree on that bit for bit.
    /// </summary>
    [Fact]
    public void Mxfp4_Dequantize_NegativeZeroCode_IsPositiveZeroAtEveryLevel_AsInGgml()
    {
        var entry = TestFormats.Get("mxfp4");
        var matrix = new QuantMatrix(entry.Info, 1, BlockSize);
        matrix.Plane(0).Span.Fill(0x88); // every element code 8
        matrix.Plane(1).Span[0] = 127;
        foreach (var level in TestFormats.Levels)
        {
            var values = TestFormats.Dequantize(entry, matrix, level);
            for (int i = 0; i < values.Length; i++)
            {
                Assert.True(Check.SameBits(0f, values[i]), $"mxfp4 code 8 at {level}, element {i}: got {Check.Show(values[i])}, expected +0.0");
            }
        }
    }

    /// <summary>
    /// e = 255 is NaN in OCP MX; the library, like ggml, decodes it as the power of two 2^128 instead:
    /// +-0.5 becomes +-2^127 (finite) and every larger magnitude overflows to +-infinity. Never NaN.
    /// </summary>
    [Fact]
    public void Mxfp4_Dequantize_Exponent255_DecodesAsTwoToThe128WithoutNaN()
    {
        var entry = TestFormats.Get("mxfp4");
        var matrix = EveryCodeMatrix(entry, [255]);
        foreach (var level in TestFormats.Levels)
        {
            var values = TestFormats.Dequantize(entry, matrix, level);
            for (int i = 0; i < values.Length; i++)
            {
                int code = Mxfp4Reference.CheckpointCode(matrix.Row(0).Plane0, i);
                float got = values[i];
                Assert.False(float.IsNaN(got), $"e = 255, code {code} at {level}: NaN");
                float expected = Mxfp4Reference.Decode(code, 255); // E2M1 * 2^128 rounded to float32
                if ((code & 7) == 0)
                {
                    Assert.True(got == 0f, $"e = 255, code {code} at {level}: got {Check.Show(got)}, expected a zero");
                }
                else
                {
                    Assert.True(Check.SameBits(expected, got), $"e = 255, code {code} at {level}: got {Check.Show(got)}, expected {Check.Show(expected)}");
                }
            }
        }
        Assert.Equal(MathF.ScaleB(1f, 127), Mxfp4Reference.Decode(1, 255));
        Assert.Equal(float.PositiveInfinity, Mxfp4Reference.Decode(2, 255));
    }

    public static TheoryData<ulong, Dist> SeedsAndDists()
    {
        var data = new TheoryData<ulong, Dist>();
        ulong seed = 100;
        foreach (var dist in TestData.AllDists) data.Add(seed++, dist);
        data.Add(seed, Dist.Mixed);
        return data;
    }

    [Theory, MemberData(nameof(SeedsAndDists))]
    public void Mxfp4_OcpAndMseRules_MatchMxfp4GgmlAfterRelayout(ulong seed, Dist dist)
    {
        var rng = new SplitMix64(seed);
        const int rows = 5, cols = BlockSize * 24;
        var data = TestData.Matrix(rng, rows, cols, dist);
        var checkpoint = TestFormats.Get("mxfp4");
        var ggml = TestFormats.Get("mxfp4_ggml");

        foreach (var rule in new[] { "ocp", "mse" })
        {
            var a = TestFormats.Quantize(checkpoint, data, rows, cols, checkpoint.Info.FindRule(rule));
            var b = TestFormats.Quantize(ggml, data, rows, cols, ggml.Info.FindRule(rule));
            int mismatches = 0;
            string? first = null;
            for (int r = 0; r < rows; r++)
            {
                var rowA = a.Row(r);
                var rowB = b.Row(r);
                for (int blk = 0; blk < cols / BlockSize; blk++)
                {
                    var record = rowB.Plane0.Slice(blk * 17, 17);
                    if (rowA.Plane1[blk] != record[0])
                    {
                        mismatches++;
                        first ??= $"row {r} block {blk}: scale {rowA.Plane1[blk]} vs ggml e {record[0]}";
                    }
                    for (int j = 0; j < BlockSize; j++)
                    {
                        int codeA = Mxfp4Reference.CheckpointCode(rowA.Plane0, blk * BlockSize + j);
                        int codeB = Mxfp4Reference.GgmlCode(record, j);
                        if (codeA != codeB)
                        {
                            mismatches++;
                            first ??= $"row {r} block {blk} element {j}: code {codeA} vs ggml {codeB}";
                        }
                    }
                }
            }
            Assert.True(mismatches == 0, $"seed {seed}, {dist}, rule {rule}: {mismatches} scale/code mismatches between mxfp4 and mxfp4_ggml; first {first}");

            foreach (var level in TestFormats.Levels)
            {
                Check.BitsEqual(TestFormats.Dequantize(ggml, b, level), TestFormats.Dequantize(checkpoint, a, level),
                    $"seed {seed}, {dist}, rule {rule}: mxfp4 vs mxfp4_ggml floats at {level}", cols);
            }
            // And the checkpoint layout read back through the float64 decoder.
            Check.BitsEqual(Reference(a), TestFormats.Dequantize(checkpoint, a), $"seed {seed}, {dist}, rule {rule}: mxfp4 vs float64 reference", cols);
        }
        output.WriteLine($"seed {seed}, {dist}: {rows} x {cols} identical across layouts");
    }

    /// <summary>Rows of two blocks each, every code 0-15 twice per block, one row per exponent.</summary>
    private static QuantMatrix EveryCodeMatrix(QuantFormatEntry entry, int[] exponents)
    {
        var matrix = new QuantMatrix(entry.Info, exponents.Length, 2 * BlockSize);
        Span<int> codes = stackalloc int[2 * BlockSize];
        for (int i = 0; i < codes.Length; i++) codes[i] = (i * 7 + i / 16) & 15; // every code, in varying neighbours
        for (int r = 0; r < exponents.Length; r++)
        {
            var writer = matrix.RowWriter(r);
            Mxfp4Reference.PackCheckpoint(codes, writer.Plane0);
            writer.Plane1.Fill((byte)exponents[r]);
        }
        return matrix;
    }

    private static float[] Reference(QuantMatrix matrix)
    {
        var result = new float[matrix.Rows * matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            var row = matrix.Row(r);
            for (int i = 0; i < matrix.Columns; i++)
            {
                result[r * matrix.Columns + i] = Mxfp4Reference.Decode(Mxfp4Reference.CheckpointCode(row.Plane0, i), row.Plane1[i / BlockSize]);
            }
        }
        return result;
    }
}
