using System;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Checkpoints;

namespace Quant.Formats.Tests.Checkpoints;

/// <summary>
/// <see cref="GptqLinear"/>: <c>y = x W^T + b</c> straight from checkpoint tensors (act-order activations permuted on the
/// way in) within 1e-5 of sum |w x| of the float64 product of the reference weight, for GEMV and GEMM, at every SIMD level.
/// </summary>
public sealed class GptqMatMulTests
{
    public static TheoryData<string> Cases() => GptqCases.Names();

    [Theory, MemberData(nameof(Cases))]
    public void Forward_MatchesFloat64Reference(string name)
    {
        var checkpoint = GptqCases.Build(name);
        int k = checkpoint.K, n = checkpoint.N;
        var rng = new SplitMix64(7);
        foreach (bool withBias in new[] { false, true })
        {
            var layer = new GptqLinear(GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors), withBias ? checkpoint.Bias : default);
            Assert.Equal(withBias, layer.HasBias);
            foreach (int batch in new[] { 1, 3 })
            {
                var x = TestData.Matrix(rng, batch, k, Dist.Gaussian);
                foreach (var level in TestFormats.Levels)
                {
                    foreach (int threads in new[] { 1, 2 })
                    {
                        var y = new float[batch * n];
                        y.AsSpan().Fill(float.NaN);
                        layer.Forward(x, y, threads, level);
                        AssertClose(checkpoint, x, y, withBias ? checkpoint.Bias : null, $"{name}, batch {batch}, {level}, {threads} threads, {(withBias ? "bias" : "no bias")}");
                    }
                }
            }
        }
    }

    [Fact]
    public void FromCheckpoint_WithAnF16Bias_AddsIt()
    {
        var checkpoint = GptqCases.Build(new GptqCase(GptqFlavor.GptqV1, 4, 128, true, 256, 64).ToString());
        var bias = new Half[checkpoint.N];
        for (int i = 0; i < bias.Length; i++) bias[i] = (Half)checkpoint.Bias[i];
        var layer = GptqLinear.FromCheckpoint(checkpoint.Config, checkpoint.Tensors, new CheckpointTensor<Half>(bias, checkpoint.N));
        var x = TestData.Matrix(new SplitMix64(3), 2, checkpoint.K, Dist.Gaussian);
        var y = new float[2 * checkpoint.N];
        layer.Forward(x, y);
        AssertClose(checkpoint, x, y, checkpoint.Bias, "F16 bias");
        Assert.Throws<QuantFormatException>(() => GptqLinear.FromCheckpoint(checkpoint.Config, checkpoint.Tensors, new CheckpointTensor<Half>(bias, checkpoint.N + 1)));
    }

    [Fact]
    public void Forward_WithActivationsOfTheWrongLength_Throws()
    {
        var checkpoint = GptqCases.Build(new GptqCase(GptqFlavor.GptqV2, 3, 64, true, 192, 64).ToString());
        var layer = new GptqLinear(GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors));
        Assert.Throws<ArgumentException>(() => layer.Forward(new float[checkpoint.K + 1], new float[checkpoint.N]));
        Assert.Throws<ArgumentException>(() => layer.Forward(new float[checkpoint.K], new float[checkpoint.N + 1]));
        Assert.Throws<ArgumentException>(() => new GptqLinear(layer.Weight, new float[checkpoint.N - 1]));
    }

    private static void AssertClose(SyntheticGptq checkpoint, float[] x, float[] y, float[]? bias, string context)
    {
        int k = checkpoint.K, n = checkpoint.N;
        for (int b = 0; b < x.Length / k; b++)
        {
            for (int r = 0; r < n; r++)
            {
                double dot = 0, abs = 0;
                for (int i = 0; i < k; i++)
                {
                    double p = checkpoint.Reference[r * k + i] * x[b * k + i];
                    dot += p;
                    abs += Math.Abs(p);
                }
                double bv = bias?[r] ?? 0;
                Check.Close(dot + bv, y[b * n + r], abs, Math.Abs(bv) * MatMulTests.BiasSlack + Check.UnderflowSlack(k), $"{context}: y[{b}, {r}]");
            }
        }
    }
}
