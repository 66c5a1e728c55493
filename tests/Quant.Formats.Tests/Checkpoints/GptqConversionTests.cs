using System;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Checkpoints;

namespace Quant.Formats.Tests.Checkpoints;

/// <summary>
/// Converting a GPTQ / AWQ weight to another registered format gives exactly what quantizing the float64 reference
/// weight (in the input column order) with that format's kernels gives: row-local formats a slice of rows at a time,
/// formats with per-tensor planes all at once, with an importance row in the input order.
/// </summary>
public sealed class GptqConversionTests
{
    public static TheoryData<string> Cases() => GptqCases.Names();

    [Theory, MemberData(nameof(Cases))]
    public void ConvertTo_Q4_0AndQ8_0_EqualsQuantizingTheReference(string name)
    {
        var checkpoint = GptqCases.Build(name);
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        foreach (string format in new[] { "q4_0", "q8_0" })
        {
            AssertConverts(checkpoint, weight, format, importance: null, $"{name} -> {format}");
        }
    }

    [Theory]
    [InlineData("nvfp4")]
    [InlineData("mxfp4")]
    [InlineData("q4_0")]
    public void ConvertTo_ManySlicesOrAWholeTensorFormat_EqualsQuantizingTheReference(string format)
    {
        // 1536 x 1024: row-local formats convert in two slices of rows; nvfp4 has a per-tensor scale and goes whole.
        var checkpoint = new SyntheticGptq(new GptqCase(GptqFlavor.GptqV1, 4, 128, true, 1024, 1536), 99);
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        AssertConverts(checkpoint, weight, format, importance: null, $"large act-order layer -> {format}");
    }

    [Fact]
    public void ConvertTo_WithImportance_UsesItInInputColumnOrder()
    {
        var checkpoint = GptqCases.Build(new GptqCase(GptqFlavor.GptqV2, 3, 64, true, 192, 64).ToString());
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        var importance = new float[checkpoint.K];
        var rng = new SplitMix64(17);
        for (int i = 0; i < importance.Length; i++) importance[i] = (float)Math.Exp(rng.NextGaussian() * 2);
        AssertConverts(checkpoint, weight, "q4_0", importance, "act-order layer -> q4_0 with an importance row");
    }

    [Fact]
    public void ConvertTo_AFormatWhoseBlockDoesNotDivideTheRow_Throws()
    {
        var checkpoint = GptqCases.Build(new GptqCase(GptqFlavor.GptqV1, 4, 64, false, 192, 64).ToString());
        var weight = GptqWeight.FromCheckpoint(checkpoint.Config, checkpoint.Tensors);
        Assert.Throws<QuantFormatException>(() => weight.ConvertTo("q4_K"));
        Assert.Throws<QuantFormatException>(() => weight.ConvertTo("no_such_format"));
    }

    private static void AssertConverts(SyntheticGptq checkpoint, GptqWeight weight, string format, float[]? importance, string context)
    {
        var reference = new float[checkpoint.Reference.Length];
        for (int i = 0; i < reference.Length; i++) reference[i] = (float)checkpoint.Reference[i];
        var expected = FormatKernels.For(format).Quantize(reference, checkpoint.N, checkpoint.K, importance: importance);
        var actual = weight.ConvertTo(format, importance: importance);
        Assert.Same(expected.Format, actual.Format);
        for (int p = 0; p < expected.Format.Planes.Count; p++)
        {
            Check.BytesEqual(expected.Plane(p).Span, actual.Plane(p).Span, $"{context}, plane {expected.Format.Planes[p].Name}");
        }
    }
}
