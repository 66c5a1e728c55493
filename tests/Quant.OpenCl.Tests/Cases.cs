using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Quant.Kernels;

namespace Quant.OpenCl.Tests;

/// <summary>The shapes and data every kernel test of a format sweeps: modest, since PoCL runs them on a small CPU.</summary>
internal static class Cases
{
    /// <summary>
    /// Rows not a multiple of any work-group's rows (7), more rows than a 2-D tile (130), K of one block and of five,
    /// and a K over one staged segment of 8192 elements; blocks under 16 elements get K that end inside a chunk.
    /// </summary>
    public static IEnumerable<(int Rows, int K)> Shapes(QuantFormatInfo info)
    {
        int b = info.BlockSize;
        int one = b >= 16 ? b : b * (32 / b + 1);
        yield return (7, one);
        yield return (130, one);
        yield return (7, b >= 16 ? 5 * b : b * (96 / b + 1));
        int wide = b >= 16 ? 9216 / b * b : 9216 + b;
        yield return (3, wide);
    }

    /// <summary>A row-major [rows, k] matrix of seeded weights (Gaussian, or a mix of block kinds), quantized with the default rule.</summary>
    public static (QuantMatrix Matrix, FormatKernels Kernels) Quantized(string format, int rows, int k, ulong seed)
    {
        var kernels = FormatKernels.For(format);
        var rng = new SplitMix64(seed);
        var weights = TestData.Matrix(rng, rows, k, seed % 2 == 0 ? Dist.Gaussian : Dist.Mixed);
        return (kernels.Quantize(weights, rows, k), kernels);
    }

    /// <summary>The CPU's dequantization of a whole matrix (the reference the device must equal bit for bit).</summary>
    public static float[] CpuFloats(FormatKernels kernels, QuantMatrix matrix)
    {
        var values = new float[(long)matrix.Rows * matrix.Columns];
        kernels.Dequantize(matrix, values, threads: 1);
        return values;
    }

    /// <summary>Checks y against the float64 product of the CPU-dequantized weights: within 1e-5 of sum |w x| (plus an ulp of the bias).</summary>
    public static void CheckProducts(FailureLog failures, float[] w, int rows, int k, float[] x, int xRow0, float[] y, int yRow, ReadOnlySpan<float> bias, int weightRow0, string context)
    {
        for (int r = 0; r < rows; r++)
        {
            var (dot, scale) = Float64.Dot(w.AsSpan((weightRow0 + r) * k, k), x.AsSpan(xRow0 * k, k));
            double b = bias.IsEmpty ? 0 : bias[weightRow0 + r];
            float actual = y[yRow * rows + r];
            failures.Run(() => Check.Close(dot + b, actual, scale, Math.Abs(b) * Math.ScaleB(1.0, -23) + Check.UnderflowSlack(k), $"{context}: y[{yRow}, {r}]"));
        }
    }
}
