using System;
using BenchmarkDotNet.Attributes;
using Quant.Kernels;

namespace Quant.Bench;

/// <summary>Seeded gaussian data shared by the benchmark classes.</summary>
internal static class BenchData
{
    public static float[] Gaussian(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i += 2)
        {
            // Box-Muller: two independent N(0, 1) values per pair of uniforms.
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            values[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count) values[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
        return values;
    }

    /// <summary>A <paramref name="rows"/> x <paramref name="columns"/> matrix of the format, from 256 distinct quantized rows tiled.</summary>
    public static QuantMatrix Weights(FormatKernels kernels, int rows, int columns, int seed)
    {
        int distinct = Math.Min(rows, 256);
        var source = kernels.Quantize(Gaussian(distinct * columns, seed), distinct, columns);
        var matrix = new QuantMatrix(kernels.Info, rows, columns);
        for (int plane = 0; plane < matrix.Format.Planes.Count; plane++)
        {
            var from = source.Plane(plane).Span;
            var to = matrix.Plane(plane).Span;
            for (int offset = 0; offset < to.Length; offset += from.Length)
            {
                from[..Math.Min(from.Length, to.Length - offset)].CopyTo(to[offset..]);
            }
        }
        return matrix;
    }
}

/// <summary>GEMV and GEMM <c>y = x W^T + b</c> on a weight matrix larger than the last-level cache.</summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    private FormatKernels _kernels = null!;
    private QuantMatrix _weights = null!;
    private float[] _x = null!, _y = null!, _bias = null!;

    [Params("q4_0", "q8_0", "mxfp4", "mxfp4_ggml", "q4_K", "q6_K", "iq4_nl", "afq4_g64", "f16")]
    public string Format { get; set; } = "q4_0";

    /// <summary>Activation rows: 1 is decode (GEMV), 16 and 64 are prefill (GEMM).</summary>
    [Params(1, 16)]
    public int Batch { get; set; }

    [Params(1, 0)]
    public int Threads { get; set; }

    public const int Rows = 14336, Columns = 4096;

    [GlobalSetup]
    public void Setup()
    {
        _kernels = FormatKernels.For(Format);
        _weights = BenchData.Weights(_kernels, Rows, Columns, seed: 1);
        _x = BenchData.Gaussian(Batch * Columns, seed: 2);
        _bias = BenchData.Gaussian(Rows, seed: 3);
        _y = new float[Batch * Rows];
    }

    [Benchmark]
    public void MatMul() => _kernels.MatMul(_weights, _x, _y, _bias, Threads);
}

/// <summary>The mixture-of-experts gather at GPT-OSS-20B's expert shape (32 experts, top 4, 2880 x 2880, MXFP4).</summary>
[MemoryDiagnoser]
public class GatherBenchmarks
{
    private const int Experts = 32, TopK = 4, Hidden = 2880, Intermediate = 2880;
    private FormatKernels _kernels = null!;
    private QuantMatrix _experts = null!;
    private float[] _x = null!, _y = null!, _bias = null!;
    private int[] _indices = null!;

    [Params(1, 64)]
    public int Tokens { get; set; }

    [Params(1, 0)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _kernels = FormatKernels.For("mxfp4");
        // Gate and up interleaved: each expert holds 2 x Intermediate rows of Hidden columns.
        _experts = BenchData.Weights(_kernels, Experts * 2 * Intermediate, Hidden, seed: 4);
        _x = BenchData.Gaussian(Tokens * Hidden, seed: 5);
        _bias = BenchData.Gaussian(Experts * 2 * Intermediate, seed: 6);
        _y = new float[Tokens * TopK * 2 * Intermediate];
        var random = new Random(7);
        _indices = new int[Tokens * TopK];
        for (int t = 0; t < Tokens; t++)
        {
            // top-k picks distinct experts per token.
            Span<int> pick = _indices.AsSpan(t * TopK, TopK);
            for (int s = 0; s < TopK; s++)
            {
                int e;
                do e = random.Next(Experts); while (pick[..s].Contains(e));
                pick[s] = e;
            }
        }
    }

    [Benchmark]
    public void Gather() => _kernels.Gather(_experts, Experts, _x, _indices, _y, _bias, Threads);
}

/// <summary>Dequantize to float32 and BFloat16, and quantize with each format's default rule, on one thread.</summary>
[MemoryDiagnoser]
public class ConvertBenchmarks
{
    private FormatKernels _kernels = null!;
    private QuantMatrix _weights = null!;
    private float[] _source = null!, _f32 = null!;
    private BFloat16[] _bf16 = null!;

    [Params("q4_0", "q8_0", "mxfp4", "q4_K", "q6_K", "iq4_nl")]
    public string Format { get; set; } = "q4_0";

    public const int Rows = 1024, Columns = 4096;

    [GlobalSetup]
    public void Setup()
    {
        _kernels = FormatKernels.For(Format);
        _source = BenchData.Gaussian(Rows * Columns, seed: 8);
        _weights = _kernels.Quantize(_source, Rows, Columns);
        _f32 = new float[Rows * Columns];
        _bf16 = new BFloat16[Rows * Columns];
    }

    [Benchmark]
    public void DequantizeFloat32() => _kernels.Dequantize(_weights, _f32, threads: 1);

    [Benchmark]
    public void DequantizeBFloat16() => _kernels.Dequantize(_weights, _bf16, threads: 1);

    /// <summary>Allocates the output matrix by design (one object per call, the planes); the kernels inside do not.</summary>
    [Benchmark]
    public QuantMatrix Quantize() => _kernels.Quantize(_source, Rows, Columns, threads: 1);
}
