using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// Every SIMD path of every registered format against its scalar path (the oracle for SIMD): dequantize
/// bit for bit over whole rows and block sub-ranges, and the fused row dot within 1e-5 of sum |w x| of the
/// float64 dot of the scalar dequantization. Row lengths sweep one block to 4096 elements.
/// </summary>
public sealed class SimdLevelTests(ITestOutputHelper output)
{
    // Blocks per row: one block, small odd counts, and up to 4096 elements for 32-element blocks.
    private static readonly int[] s_blockCounts = [1, 2, 3, 4, 5, 7, 8, 11, 16, 17, 31, 33, 64, 65, 100, 127, 128];

    public static TheoryData<string> FormatNames() => TestFormats.Names();

    [Fact]
    public void Registry_HoldsTheBuiltInFormats()
    {
        var names = new List<string>();
        foreach (var entry in TestFormats.All) names.Add(entry.Info.Name);
        foreach (var expected in new[] { "mxfp4", "mxfp4_ggml", "q4_0", "q8_0" }) Assert.Contains(expected, names);
        output.WriteLine($"registered: {string.Join(", ", names)}; SIMD levels here: {string.Join(", ", TestFormats.Levels)}");
    }

    [Theory, MemberData(nameof(FormatNames))]
    public void DequantizeBlocks_EveryLevel_IsBitIdenticalToScalar(string format)
    {
        var entry = TestFormats.Get(format);
        int bs = entry.Info.BlockSize;
        ulong seed = 800;
        var failures = new FailureLog();
        foreach (int blocks in ColumnsSweep(bs))
        {
            int cols = blocks * bs;
            foreach (var (label, matrix) in Matrices(entry, cols, seed++))
            {
                var scalar = TestFormats.Dequantize(entry, matrix, SimdLevel.Scalar);
                foreach (var level in TestFormats.Levels)
                {
                    string context = $"seed {seed - 1}, {format}, K = {cols}, {label}, {level}";
                    failures.Run(() => Check.BitsEqual(scalar, TestFormats.Dequantize(entry, matrix, level), $"{context}: whole rows", cols));

                    // Sub-ranges that start past the first block, of several lengths.
                    for (int r = 0; r < matrix.Rows; r++)
                    {
                        foreach (int first in new[] { 1, blocks / 2, blocks - 1 })
                        {
                            if (first <= 0 || first >= blocks) continue;
                            foreach (int count in new[] { 1, Math.Min(3, blocks - first), blocks - first })
                            {
                                var part = new float[count * bs];
                                entry.DequantizeBlocks(matrix.Row(r), first, part, level);
                                int row = r, from = first, length = count;
                                failures.Run(() => Check.BitsEqual(scalar.AsSpan(row * cols + from * bs, length * bs), part, $"{context}: row {row}, blocks {from}..{from + length - 1}"));
                            }
                        }
                    }
                }
            }
        }
        failures.ThrowIfAny();
    }

    [Theory, MemberData(nameof(FormatNames))]
    public void DotRow_EveryLevel_MatchesFloat64DotOfScalarDequantization(string format)
    {
        var entry = TestFormats.Get(format);
        int bs = entry.Info.BlockSize;
        ulong seed = 900;
        int checkedRows = 0;
        var failures = new FailureLog();
        foreach (int blocks in ColumnsSweep(bs))
        {
            int cols = blocks * bs;
            var xRng = new SplitMix64(seed * 31);
            foreach (var (label, matrix) in Matrices(entry, cols, seed++))
            {
                var x = TestData.Matrix(xRng, 1, cols, xRng.NextBool() ? Dist.Gaussian : Dist.Mixed);
                var w = TestFormats.Dequantize(entry, matrix, SimdLevel.Scalar);
                for (int r = 0; r < matrix.Rows; r++)
                {
                    var wr = w.AsSpan(r * cols, cols);
                    Assert.True(Float64.AllFinite(wr), $"seed {seed - 1}, {format}, K = {cols}, {label}: row {r} dequantizes to non-finite values");
                    var (dot, abs) = Float64.Dot(wr, x);
                    foreach (var level in TestFormats.Levels)
                    {
                        float got = entry.DotRow(matrix.Row(r), x, level);
                        string context = $"seed {seed - 1}, {format}, K = {cols}, {label}, row {r}: DotRow at {level}";
                        failures.Run(() => Check.Close(dot, got, abs, Check.UnderflowSlack(cols), context));
                    }
                    checkedRows++;
                }
            }
        }
        output.WriteLine($"{format}: {checkedRows} rows checked at {TestFormats.Levels.Length} levels");
        failures.ThrowIfAny();
    }

    private static IEnumerable<int> ColumnsSweep(int blockSize)
    {
        foreach (int blocks in s_blockCounts)
        {
            if (blocks == 1 || blocks * blockSize <= 4096) yield return blocks;
        }
    }

    /// <summary>
    /// The matrices each check runs on, with odd row counts: the quantization of mixed data by every rule
    /// of the format, and a matrix of random bytes whose blocks that decode to non-finite or huge values
    /// are swapped for quantized ones (so every code and most scale patterns occur, and dots stay finite).
    /// </summary>
    private static IEnumerable<(string Label, QuantMatrix Matrix)> Matrices(QuantFormatEntry entry, int cols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        int rows = 1 + 2 * rng.NextInt(3); // 1, 3 or 5
        var data = TestData.Matrix(rng, rows, cols, Dist.Mixed);
        QuantMatrix? first = null;
        for (int rule = 0; rule < entry.Info.Rules.Count; rule++)
        {
            var q = TestFormats.Quantize(entry, data, rows, cols, rule);
            first ??= q;
            yield return ($"{rows} rows of mixed data, rule {entry.Info.Rules[rule].Name}", q);
        }
        yield return ($"{rows} rows of random bytes", RandomFiniteBlocks(entry, rows, cols, rng, first!));
    }

    private static QuantMatrix RandomFiniteBlocks(QuantFormatEntry entry, int rows, int cols, SplitMix64 rng, QuantMatrix fallback)
    {
        var info = entry.Info;
        var matrix = TestFormats.RandomBytes(entry, rows, cols, rng);
        bool perBlock = true;
        foreach (var plane in info.Planes) perBlock &= plane.Extent == PlaneExtent.Block;
        if (!perBlock) return fallback; // tiled or per-tensor planes: no per-block repair; the quantized matrix stands in

        var values = TestFormats.Dequantize(entry, matrix, SimdLevel.Scalar);
        int bs = info.BlockSize;
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < cols / bs; b++)
            {
                bool sane = true;
                foreach (float v in values.AsSpan(r * cols + b * bs, bs)) sane &= float.IsFinite(v) && MathF.Abs(v) < 1e20f;
                if (sane) continue;
                for (int p = 0; p < info.Planes.Count; p++)
                {
                    int size = info.Planes[p].BytesPerBlock;
                    int at = r * info.RowBytes(p, cols) + b * size;
                    fallback.Plane(p).Span.Slice(at, size).CopyTo(matrix.Plane(p).Span.Slice(at, size));
                }
            }
        }
        return matrix;
    }
}
