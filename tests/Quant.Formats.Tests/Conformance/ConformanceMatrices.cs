using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Quant.Kernels;

namespace Quant.Formats.Tests.Conformance;

/// <summary>The matrices the conformance checks run on, built through the registry so that any format gets them.</summary>
internal static class ConformanceMatrices
{
    /// <summary>Block counts per row: one block, small odd counts, and rows up to 4096 elements.</summary>
    public static readonly int[] BlockCounts = [1, 2, 3, 4, 5, 7, 8, 11, 16, 17, 31, 33, 64, 65, 100, 127, 128];

    /// <summary>The block counts of <see cref="BlockCounts"/> whose rows stay within 4096 elements (one block always).</summary>
    public static IEnumerable<int> ColumnSweep(int blockSize)
    {
        foreach (int blocks in BlockCounts)
        {
            if (blocks == 1 || blocks * blockSize <= 4096) yield return blocks;
        }
    }

    /// <summary>
    /// Quantizes through the format's driver (<see cref="FormatKernels.Quantize"/>), which also writes per-tensor
    /// planes such as NVFP4's <c>weight_scale_2</c>; quantizing row by row would leave those zero.
    /// </summary>
    public static QuantMatrix Quantize(QuantFormatEntry entry, float[] weights, int rows, int cols, int rule = -1, float[]? importance = null, int threads = 1)
        => FormatKernels.For(entry).Quantize(weights, rows, cols, rule, importance, threads);

    /// <summary>Dequantizes row by row through the registry entry at <paramref name="level"/>.</summary>
    public static float[] Dequantize(QuantFormatEntry entry, QuantMatrix matrix, SimdLevel level)
    {
        var values = new float[matrix.Rows * matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++) entry.DequantizeBlocks(matrix.Row(r), 0, values.AsSpan(r * matrix.Columns, matrix.Columns), level);
        return values;
    }

    /// <summary>
    /// The matrices of one check: the quantization of mixed data by every rule of the format, then one whose
    /// per-block planes are random bytes (every code, most scale patterns) with the tensor planes of a real
    /// quantization, and with each block that decodes to non-finite or huge values swapped for a quantized one,
    /// so that sums stay finite. Odd row counts.
    /// </summary>
    public static IEnumerable<(string Label, QuantMatrix Matrix)> Mixed(QuantFormatEntry entry, int cols, ulong seed)
    {
        var rng = new SplitMix64(seed);
        int rows = 1 + 2 * rng.NextInt(3); // 1, 3 or 5
        var data = TestData.Matrix(rng, rows, cols, Dist.Mixed);
        QuantMatrix? first = null;
        for (int rule = 0; rule < entry.Info.Rules.Count; rule++)
        {
            var q = Quantize(entry, data, rows, cols, rule);
            first ??= q;
            yield return ($"{rows} rows of mixed data, rule {entry.Info.Rules[rule].Name}", q);
        }
        if (RandomBlocks(entry, first!, rng) is { } random) yield return ($"{rows} rows of random block bytes", random);
    }

    /// <summary>Random per-block bytes over <paramref name="quantized"/>'s tensor planes, repaired block by block; null for tiled formats.</summary>
    public static QuantMatrix? RandomBlocks(QuantFormatEntry entry, QuantMatrix quantized, SplitMix64 rng)
    {
        var info = entry.Info;
        int rows = quantized.Rows, cols = quantized.Columns, bs = info.BlockSize;
        var planes = new Memory<byte>[info.Planes.Count];
        for (int p = 0; p < planes.Length; p++)
        {
            var bytes = quantized.Plane(p).ToArray();
            switch (info.Planes[p].Extent)
            {
                case PlaneExtent.Block:
                    rng.NextBytes(bytes);
                    break;
                case PlaneExtent.Tensor:
                    break; // a real per-tensor value: random bytes there would scale every block at once
                default:
                    return null; // a tile's scale spans rows; no per-block repair
            }
            planes[p] = bytes;
        }
        var matrix = new QuantMatrix(info, rows, cols, planes);
        var values = Dequantize(entry, matrix, SimdLevel.Scalar);
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < cols / bs; b++)
            {
                bool sane = true;
                foreach (float v in values.AsSpan(r * cols + b * bs, bs)) sane &= float.IsFinite(v) && MathF.Abs(v) < 1e20f;
                if (sane) continue;
                for (int p = 0; p < planes.Length; p++)
                {
                    if (info.Planes[p].Extent != PlaneExtent.Block) continue;
                    int size = info.Planes[p].BytesPerBlock;
                    int at = r * info.RowBytes(p, cols) + b * size;
                    quantized.Plane(p).Span.Slice(at, size).CopyTo(matrix.Plane(p).Span.Slice(at, size));
                }
            }
        }
        return matrix;
    }
}
