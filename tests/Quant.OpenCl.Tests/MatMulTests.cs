using System;
using System.Diagnostics;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime;
using Xunit.Abstractions;

namespace Quant.OpenCl.Tests;

/// <summary>
/// GEMV (batch 1 to 3; staged and streaming) and the tiled GEMM (batches 9 and 70: partial tiles both ways) of every format on the device,
/// against the float64 product of the CPU-dequantized weights: within 1e-5 of sum |w x|, with and without bias.
/// </summary>
public sealed class MatMulTests(ITestOutputHelper output)
{
    public static TheoryData<string> Formats() => OpenClTestDevice.Formats();

    [OpenClTheory, MemberData(nameof(Formats))]
    public void Gemv_MatchesFloat64Reference(string format)
    {
        var context = OpenClTestDevice.Context;
        var failures = new FailureLog();
        ulong seed = 8000;
        var clock = Stopwatch.StartNew();
        // The catalogue shapes run the staged GEMV; 131 x 2048 (one segment, rows of whole 16-byte units) the streaming one.
        foreach (var (rows, k) in Cases.Shapes(FormatKernels.For(format).Info).Append((131, 2048)))
        {
            var (matrix, kernels) = Cases.Quantized(format, rows, k, seed);
            var w = Cases.CpuFloats(kernels, matrix);
            using var device = new OpenClQuantMatrix(context, matrix);
            if (k == 2048) Assert.True(device.StreamingGemv, $"{format}: 131 x 2048 should run the streaming GEMV");
            var rng = new SplitMix64(seed++);
            var bias = TestData.Matrix(rng, 1, rows, Dist.Gaussian);
            foreach (int batch in new[] { 1, 3 })
            {
                var x = TestData.Matrix(rng, batch, k, Dist.Gaussian);
                foreach (bool withBias in new[] { false, true })
                {
                    var y = new float[batch * rows];
                    y.AsSpan().Fill(float.NaN);
                    device.MatMul(x, y, withBias ? bias : default);
                    for (int b = 0; b < batch; b++)
                    {
                        Cases.CheckProducts(failures, w, rows, k, x, b, y, b, withBias ? bias : default, 0,
                            $"{format} GEMV, {rows} x {k}, batch {batch}, {(withBias ? "bias" : "no bias")}, seed {seed - 1}");
                    }
                }
            }
        }
        output.WriteLine($"{format}: GEMV checked on {context.Device.FullName} in {clock.ElapsedMilliseconds} ms");
        failures.ThrowIfAny();
    }

    [OpenClTheory, MemberData(nameof(Formats))]
    public void Gemm_MatchesFloat64Reference(string format)
    {
        var context = OpenClTestDevice.Context;
        var info = FormatKernels.For(format).Info;
        var failures = new FailureLog();
        int b0 = info.BlockSize;
        ulong seed = 8100;
        foreach (var (rows, k) in new[] { (67, b0 >= 16 ? 3 * b0 : b0 * (96 / b0 + 1)), (130, b0 >= 16 ? b0 : b0 * (32 / b0 + 1)) })
        {
            var (matrix, kernels) = Cases.Quantized(format, rows, k, seed);
            var w = Cases.CpuFloats(kernels, matrix);
            using var device = new OpenClQuantMatrix(context, matrix);
            var rng = new SplitMix64(seed++);
            var bias = TestData.Matrix(rng, 1, rows, Dist.Gaussian);
            foreach (int batch in new[] { 9, 70 })
            {
                var x = TestData.Matrix(rng, batch, k, Dist.Gaussian);
                bool withBias = batch == 70;
                var y = new float[batch * rows];
                y.AsSpan().Fill(float.NaN);
                device.MatMul(x, y, withBias ? bias : default);
                for (int b = 0; b < batch; b++)
                {
                    Cases.CheckProducts(failures, w, rows, k, x, b, y, b, withBias ? bias : default, 0,
                        $"{format} GEMM, {rows} x {k}, batch {batch}, {(withBias ? "bias" : "no bias")}, seed {seed - 1}");
                }
            }
        }
        failures.ThrowIfAny();
    }

    [OpenClTheory, MemberData(nameof(Formats))]
    public void Gather_StackedExperts_MatchesFloat64Reference(string format)
    {
        // Three experts quantized one by one (each keeps its own tensor scale), five tokens with two slots each,
        // activations per token and per token-slot, bias per expert.
        var context = OpenClTestDevice.Context;
        var info = FormatKernels.For(format).Info;
        // Experts of a 2-D tile format stack whole tiles (QuantMatrix.Stack needs each expert's tile plane to be its own).
        int n = info.TileRows > 1 ? info.TileRows : 7, experts = 3, tokens = 5, slots = 2;
        int k = info.BlockSize >= 16 ? 2 * info.BlockSize : 40 / info.BlockSize * info.BlockSize;
        var parts = new QuantMatrix[experts];
        FormatKernels kernels = FormatKernels.For(format);
        for (int e = 0; e < experts; e++) (parts[e], kernels) = Cases.Quantized(format, n, k, 8200 + (ulong)e);
        var stacked = QuantMatrix.Stack(parts);
        var w = Cases.CpuFloats(kernels, stacked);
        using var device = new OpenClQuantMatrix(context, stacked);
        var rng = new SplitMix64(8300);
        var indices = new int[tokens * slots];
        for (int i = 0; i < indices.Length; i++) indices[i] = rng.NextInt(experts);
        var bias = TestData.Matrix(rng, experts, n, Dist.Gaussian);
        var failures = new FailureLog();
        foreach (int xRows in new[] { tokens, tokens * slots })
        {
            var x = TestData.Matrix(rng, xRows, k, Dist.Gaussian);
            var y = new float[indices.Length * n];
            y.AsSpan().Fill(float.NaN);
            device.Gather(experts, x, indices, y, bias);
            for (int p = 0; p < indices.Length; p++)
            {
                Cases.CheckProducts(failures, w, n, k, x, p / (indices.Length / xRows), y, p, bias, indices[p] * n,
                    $"{format} gather, expert {indices[p]}, pair {p}, {xRows} x rows");
            }
        }
        failures.ThrowIfAny();
    }
}
