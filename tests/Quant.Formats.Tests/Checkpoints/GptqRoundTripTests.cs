using System;
using System.Runtime.InteropServices;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Checkpoints;

namespace Quant.Formats.Tests.Checkpoints;

/// <summary>
/// Writing GPTQ / AWQ tensors back: checkpoint -> format -> checkpoint is byte-identical; a v1 checkpoint written as v2
/// (and AWQ written as GPTQ) matches what the other tool's packing makes of the same codes; a matrix quantized from
/// floats survives format -> checkpoint -> format byte for byte.
/// </summary>
public sealed class GptqRoundTripTests
{
    public static TheoryData<string> Cases() => GptqCases.Names();

    [Theory, MemberData(nameof(Cases))]
    public void CheckpointToFormatToCheckpoint_IsByteIdentical(string name)
    {
        var checkpoint = GptqCases.Build(name);
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        Assert.Same(checkpoint.Config, weight.Source);
        AssertSameTensors(checkpoint.Tensors, weight.ToCheckpoint(), name);
    }

    [Theory, MemberData(nameof(Cases))]
    public void CheckpointWrittenInAnotherFlavor_MatchesThatFlavorsPacking(string name)
    {
        var checkpoint = GptqCases.Build(name);
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        var targets = checkpoint.Config.Flavor switch
        {
            GptqFlavor.GptqV1 => new[] { GptqFlavor.GptqV2 },
            GptqFlavor.GptqV2 => checkpoint.Config.Bits == 4 && !checkpoint.Case.ActOrder ? new[] { GptqFlavor.GptqV1, GptqFlavor.Awq } : new[] { GptqFlavor.GptqV1 },
            _ => new[] { GptqFlavor.GptqV1, GptqFlavor.GptqV2 },
        };
        foreach (var flavor in targets)
        {
            var config = checkpoint.Config with { Flavor = flavor };
            bool fits = true;
            foreach (int z in checkpoint.Zeros) fits &= z >= config.MinZero && z <= config.MaxZero;
            if (!fits)
            {
                // v1 stores z - 1 and v2 stores z: the zero point that one can hold and the other cannot is refused, naming qzeros.
                var error = Assert.Throws<QuantFormatException>(() => weight.ToCheckpoint(config));
                Assert.Contains("qzeros", error.Message, StringComparison.Ordinal);
                continue;
            }
            bool withGroupIndex = flavor != GptqFlavor.Awq && (checkpoint.Config.Flavor == GptqFlavor.Awq || checkpoint.Case.WithGroupIndex);
            var expected = SyntheticGptq.Pack(config, checkpoint.Codes, checkpoint.Zeros, checkpoint.ScaleValues, withGroupIndex ? checkpoint.GIdx : null);
            AssertSameTensors(expected, weight.ToCheckpoint(config), $"{name} written as {flavor}");
        }
    }

    [Theory]
    [InlineData("gptq2_g32", GptqFlavor.GptqV2)]
    [InlineData("gptq3_g64", GptqFlavor.GptqV2)]
    [InlineData("gptq4_g128", GptqFlavor.Awq)]
    [InlineData("gptq4_g32", GptqFlavor.GptqV2)]
    [InlineData("gptq8_g64", GptqFlavor.GptqV2)]
    public void QuantizedMatrix_ToCheckpointAndBack_KeepsEveryPlaneByte(string format, GptqFlavor flavor)
    {
        var entry = TestFormats.Get(format);
        int k = entry.Info.BlockSize * 4, n = 32;
        var floats = TestData.Matrix(new SplitMix64(41), n, k, Dist.Gaussian);
        var matrix = FormatKernels.For(entry).Quantize(floats, n, k);
        var config = new GptqConfig(flavor, entry.Info.CodeBits, entry.Info.BlockSize);
        var back = GptqWeight.FromCheckpoint(config, new GptqWeight(matrix).ToCheckpoint(config));
        Assert.Same(matrix.Format, back.Matrix.Format);
        for (int p = 0; p < matrix.Format.Planes.Count; p++)
        {
            Check.BytesEqual(matrix.Plane(p).Span, back.Matrix.Plane(p).Span, $"{format} via {flavor}, plane {matrix.Format.Planes[p].Name}");
        }
    }

    [Fact]
    public void PermutedMatrix_ToCheckpointAndBack_DequantizesTheSame()
    {
        var entry = TestFormats.Get("gptq4_g64");
        int k = 256, n = 16;
        var rng = new SplitMix64(5);
        var matrix = FormatKernels.For(entry).Quantize(TestData.Matrix(rng, n, k, Dist.Gaussian), n, k);
        var order = new int[k];
        for (int i = 0; i < k; i++) order[i] = i;
        for (int i = k - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var weight = new GptqWeight(matrix, order);
        var tensors = weight.ToCheckpoint(GptqConfig.GptqV2(4, 64));
        Assert.NotNull(tensors.GIdx);
        var back = GptqWeight.FromCheckpoint(GptqConfig.GptqV2(4, 64), tensors);
        var expected = new float[n * k];
        var actual = new float[n * k];
        weight.Dequantize(expected);
        back.Dequantize(actual);
        Check.BitsEqual(expected, actual, "act-order matrix via a GPTQ v2 checkpoint", k);
        AssertSameTensors(tensors, back.ToCheckpoint(), "act-order matrix, second write");
    }

    internal static void AssertSameTensors(GptqTensors expected, GptqTensors actual, string context)
    {
        AssertSame(expected.QWeight, actual.QWeight, $"{context}: qweight");
        AssertSame(expected.QZeros, actual.QZeros, $"{context}: qzeros");
        AssertSame(expected.Scales, actual.Scales, $"{context}: scales");
        Assert.Equal(expected.GIdx is null, actual.GIdx is null);
        if (expected.GIdx is not null) AssertSame(expected.GIdx, actual.GIdx!, $"{context}: g_idx");
    }

    private static void AssertSame<T>(CheckpointTensor<T> expected, CheckpointTensor<T> actual, string context) where T : unmanaged
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Check.BytesEqual(MemoryMarshal.AsBytes(expected.Data.Span), MemoryMarshal.AsBytes(actual.Data.Span), context);
    }
}
