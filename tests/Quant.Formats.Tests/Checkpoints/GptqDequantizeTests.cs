using System;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Checkpoints;
using Xunit.Sdk;

namespace Quant.Formats.Tests.Checkpoints;

/// <summary>
/// Reading GPTQ (v1, v2) and AWQ checkpoints: the repacked weight dequantizes to exactly the float64 weight read from the
/// tensors by the test's own unpacking, at every SIMD level, whole and row by row, in the input column order.
/// </summary>
public sealed class GptqDequantizeTests
{
    public static TheoryData<string> Cases() => GptqCases.Names();

    [Theory, MemberData(nameof(Cases))]
    public void Dequantize_EqualsFloat64ReferenceExactly(string name)
    {
        var checkpoint = GptqCases.Build(name);
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        Assert.Equal(checkpoint.N, weight.OutFeatures);
        Assert.Equal(checkpoint.K, weight.InFeatures);
        foreach (var level in TestFormats.Levels)
        {
            var w = new float[checkpoint.N * checkpoint.K];
            weight.Dequantize(w, threads: 2, level);
            AssertExact(checkpoint.Reference, w, $"{name}, {level}, whole matrix", checkpoint.K);

            var row = new float[checkpoint.K];
            var rows = new float[w.Length];
            for (int r = 0; r < checkpoint.N; r++)
            {
                weight.DequantizeRow(r, row, level);
                row.CopyTo(rows, r * checkpoint.K);
            }
            AssertExact(checkpoint.Reference, rows, $"{name}, {level}, row by row", checkpoint.K);
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void ColumnOrder_SortsInputColumnsByGroup_OrIsNullWhenGIdxIsTrivial(string name)
    {
        var checkpoint = GptqCases.Build(name);
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        if (!checkpoint.Case.ActOrder || checkpoint.Groups == 1)
        {
            // One group (group size -1) makes any g_idx the trivial one: nothing to permute.
            Assert.Null(weight.ColumnOrder);
            return;
        }
        var order = Assert.IsAssignableFrom<System.Collections.Generic.IReadOnlyList<int>>(weight.ColumnOrder);
        var seen = new bool[checkpoint.K];
        for (int j = 0; j < checkpoint.K; j++)
        {
            Assert.False(seen[order[j]], $"column {order[j]} appears twice");
            seen[order[j]] = true;
            Assert.Equal(j / checkpoint.Group, checkpoint.GIdx[order[j]]);
        }
    }

    [Theory]
    [InlineData(4, 32, 256, "gptq4_g32")]
    [InlineData(4, 64, 256, "gptq4_g64")]
    [InlineData(3, 128, 256, "gptq3_g128")]
    [InlineData(2, 256, 512, "gptq2_g128")]
    [InlineData(8, -1, 4096, "gptq8_g128")]
    [InlineData(4, -1, 96, "gptq4_g32")]
    [InlineData(4, 128, 320, "gptq4_g64")]
    [InlineData(4, 96, 192, "gptq4_g32")]
    public void FormatFor_TakesTheLargestBlockThatDividesTheGroupAndTheRow(int bits, int groupSize, int inFeatures, string expected)
        => Assert.Equal(expected, GptqWeight.FormatFor(bits, groupSize, inFeatures).Name);

    internal static void AssertExact(double[] expected, float[] actual, string context, int rowLength)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            // Every (q - z) * s of an F16 scale is a float, so float32 must hold it exactly.
            if (!((double)actual[i]).Equals(expected[i]))
            {
                throw new XunitException($"{context}: W[{i / rowLength}, {i % rowLength}] = {actual[i]:R}, expected {expected[i]:R} exactly.");
            }
        }
    }
}
