using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Kernels;

namespace Quant.Formats.Tests.Support;

/// <summary>Reaching formats through the registry, and the few matrix operations the tests share.</summary>
internal static class TestFormats
{
    /// <summary>Every registered format (built-in ones and any a loaded assembly declares).</summary>
    public static IReadOnlyList<QuantFormatEntry> All
    {
        get
        {
            QuantCatalog.EnsureRegistered();
            return QuantFormatRegistry.All;
        }
    }

    /// <summary>Format names as xunit theory data: a format added later is covered without editing a test.</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var entry in All) data.Add(entry.Info.Name);
        return data;
    }

    public static QuantFormatEntry Get(string name)
    {
        QuantCatalog.EnsureRegistered();
        return QuantFormatRegistry.Get(name);
    }

    /// <summary>Every SIMD level this process runs, scalar first.</summary>
    public static SimdLevel[] Levels => QuantSimd.SupportedLevels();

    /// <summary>
    /// Quantizes through the driver, which writes the per-tensor and per-tile planes first (nvfp4's tensor
    /// scale, fp8_block's tile scales) and then every row; quantizing row by row through the entry alone would
    /// leave those planes at zero.
    /// </summary>
    public static QuantMatrix Quantize(QuantFormatEntry entry, float[] weights, int rows, int cols, int rule = -1) =>
        FormatKernels.For(entry).Quantize(weights, rows, cols, rule, threads: 1);

    /// <summary>A matrix whose every plane byte is random: every code, every scale pattern.</summary>
    public static QuantMatrix RandomBytes(QuantFormatEntry entry, int rows, int cols, SplitMix64 rng)
    {
        var matrix = new QuantMatrix(entry.Info, rows, cols);
        for (int p = 0; p < entry.Info.Planes.Count; p++) rng.NextBytes(matrix.Plane(p).Span);
        return matrix;
    }

    /// <summary>Dequantizes every row with the given level, row by row through the entry.</summary>
    public static float[] Dequantize(QuantFormatEntry entry, QuantMatrix matrix, SimdLevel level = SimdLevel.Scalar)
    {
        var result = new float[matrix.Rows * matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            entry.DequantizeBlocks(matrix.Row(r), 0, result.AsSpan(r * matrix.Columns, matrix.Columns), level);
        }
        return result;
    }

    /// <summary>Stacks matrices of one format row-wise (experts into one [E * N, K] matrix, each keeping its own per-tensor values).</summary>
    public static QuantMatrix Stack(QuantFormatInfo info, IReadOnlyList<QuantMatrix> parts)
    {
        var stacked = QuantMatrix.Stack(parts);
        Assert.Same(info, stacked.Format);
        return stacked;
    }
}
