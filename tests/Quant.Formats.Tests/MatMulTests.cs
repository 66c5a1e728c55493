using System;
using Quant.Formats.Tests.Support;
using Quant.Kernels;

namespace Quant.Formats.Tests;

/// <summary>
/// The argument checks of the GEMV / GEMM driver and the row kernels, for every registered format. GEMV and
/// GEMM against float64 (odd row counts, K from one block to 4096, batches 1 to 33, one and two threads, with
/// and without bias, every SIMD level) are part of the conformance suite, Conformance/FormatConformance.cs.
/// </summary>
public sealed class MatMulTests
{
    /// <summary>Adding the bias rounds once more: an ulp of |b| (2^-23) is the slack on top of the dot's bound.</summary>
    internal static readonly double BiasSlack = Math.ScaleB(1.0, -23);

    public static TheoryData<string> FormatNames() => TestFormats.Names();

    [Theory, MemberData(nameof(FormatNames))]
    public void MatMul_WrongLengths_ThrowArgumentException(string format)
    {
        var entry = TestFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int k = 2 * entry.Info.BlockSize, n = 3;
        var rng = new SplitMix64(1100);
        var matrix = TestFormats.Quantize(entry, TestData.Matrix(rng, n, k, Dist.Gaussian), n, k);
        var x = new float[2 * k];
        var y = new float[2 * n];
        var bias = new float[n];

        AssertArgumentException(() => kernels.MatMul(matrix, new float[k + 1], new float[n]), "x not a whole number of rows");
        AssertArgumentException(() => kernels.MatMul(matrix, new float[k - 1], new float[n]), "x shorter than a row");
        AssertArgumentException(() => kernels.MatMul(matrix, x, new float[2 * n - 1]), "y one short");
        AssertArgumentException(() => kernels.MatMul(matrix, x, new float[2 * n + 1]), "y one long");
        AssertArgumentException(() => kernels.MatMul(matrix, x, new float[n]), "y for batch 1, x for batch 2");
        AssertArgumentException(() => kernels.MatMul(matrix, x, y, new float[n - 1]), "bias one short");
        AssertArgumentException(() => kernels.MatMul(matrix, x, y, new float[n + 1]), "bias one long");
        AssertArgumentException(() => kernels.MatMul(matrix, x, y, new float[n + 1], threads: 2), "bias one long, 2 threads");
        foreach (var other in TestFormats.All)
        {
            if (other.Info.Name == format || other.Info.BlockSize != entry.Info.BlockSize) continue;
            var foreign = new QuantMatrix(other.Info, n, k);
            AssertArgumentException(() => kernels.MatMul(foreign, x, y, bias), $"a {other.Info.Name} matrix given to {format}'s driver");
        }
        // The right lengths still work after all that.
        kernels.MatMul(matrix, x, y, bias, threads: 2);
        Assert.True(Float64.AllFinite(y));
    }

    [Theory, MemberData(nameof(FormatNames))]
    public void RowKernels_WrongLengths_ThrowArgumentException(string format)
    {
        var entry = TestFormats.Get(format);
        int bs = entry.Info.BlockSize, k = 3 * bs;
        var matrix = TestFormats.Quantize(entry, TestData.Matrix(new SplitMix64(1101), 1, k, Dist.Gaussian), 1, k);

        AssertArgumentException(() => entry.DotRow(matrix.Row(0), new float[k - 1], SimdLevel.Scalar), "DotRow, x one short");
        AssertArgumentException(() => entry.DotRow(matrix.Row(0), new float[k + bs], QuantSimd.Best), "DotRow, x a block long");
        AssertArgumentException(() => entry.DequantizeBlocks(matrix.Row(0), 0, new float[k + bs], QuantSimd.Best), "DequantizeBlocks past the row's end");
        AssertArgumentException(() => entry.DequantizeBlocks(matrix.Row(0), 2, new float[2 * bs], QuantSimd.Best), "DequantizeBlocks from block 2 of 3, two blocks");
        AssertArgumentException(() => entry.DequantizeBlocks(matrix.Row(0), -1, new float[bs], QuantSimd.Best), "DequantizeBlocks from block -1");
        // A block of one element (f16, bf16) has no partial block.
        if (bs > 1) AssertArgumentException(() => entry.DequantizeBlocks(matrix.Row(0), 0, new float[bs + 1], QuantSimd.Best), "DequantizeBlocks into a partial block");
        AssertArgumentException(() => entry.QuantizeRow(new float[k - bs], matrix.RowWriter(0), QuantizeOptions.Default), "QuantizeRow, source a block short");

        // Planes shorter than the row needs.
        var full = matrix.Row(0);
        var shortPlane = full.Plane0.Slice(0, full.Plane0.Length - 1).ToArray();
        var rest = new byte[entry.Info.Planes.Count > 1 ? full.Plane1.Length : 0];
        if (entry.Info.Planes.Count > 1) full.Plane1.CopyTo(rest);
        AssertArgumentException(() => entry.DotRow(new QuantRow(k, shortPlane, rest), new float[k], QuantSimd.Best), "DotRow, plane 0 one byte short");
        AssertArgumentException(() => entry.DequantizeBlocks(new QuantRow(k, shortPlane, rest), 0, new float[k], QuantSimd.Best), "DequantizeBlocks, plane 0 one byte short");
    }

    private static void AssertArgumentException(Action call, string what)
    {
        var e = Record.Exception(call);
        Assert.True(e is ArgumentException, $"{what}: expected an ArgumentException, got {(e is null ? "no exception" : e.GetType().Name + ": " + e.Message)}");
    }
}
