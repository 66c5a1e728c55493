using System;
using Quant.Quantization;

namespace Quant.Ggml.Tests;

/// <summary>The quantizers reject spans that do not fit the format with <see cref="QuantFormatException"/>.</summary>
public sealed class ArgumentTests
{
    [Fact]
    public void Legacy_WrongLengthsOrBits_Throw()
    {
        Assert.Throws<QuantFormatException>(() => GgmlLegacy.QuantizeSignedMaxWeighted(new float[31], default, 0f, 4, new byte[32], out _));
        Assert.Throws<QuantFormatException>(() => GgmlLegacy.QuantizeSignedMaxWeighted(new float[32], new float[16], 0f, 4, new byte[32], out _));
        Assert.Throws<QuantFormatException>(() => GgmlLegacy.QuantizeSignedMaxWeighted(new float[32], default, 0f, 6, new byte[32], out _));
        Assert.Throws<QuantFormatException>(() => GgmlLegacy.QuantizeMinMaxWeighted(new float[32], default, 0f, 5, new byte[31], out _, out _));
    }

    [Fact]
    public void KQuants_WrongLengths_Throw()
    {
        Assert.Throws<QuantFormatException>(() => GgmlKQuants.QuantizeQ2K(new float[255], default, new byte[256], new byte[16], new byte[16], out _, out _));
        Assert.Throws<QuantFormatException>(() => GgmlKQuants.QuantizeQ3K(new float[256], new float[32], new byte[256], new byte[16], out _));
        Assert.Throws<QuantFormatException>(() => GgmlKQuants.QuantizeQ4K(new float[256], default, new byte[256], new byte[7], new byte[8], out _, out _));
        Assert.Throws<QuantFormatException>(() => GgmlKQuants.QuantizeQ5K(new float[256], default, new byte[128], new byte[8], new byte[8], out _, out _));
        Assert.Throws<QuantFormatException>(() => GgmlKQuants.QuantizeQ6K(new float[256], default, new byte[256], new sbyte[15], out _));
        Assert.Throws<QuantFormatException>(() => GgmlKQuants.QuantizeQ8K(new float[256], new sbyte[255], out _));
    }

    [Fact]
    public void Iq4_WrongLengths_Throw()
    {
        Assert.Throws<QuantFormatException>(() => GgmlIq4.QuantizeIq4Nl(new float[256], default, new byte[256], out _));
        Assert.Throws<QuantFormatException>(() => GgmlIq4.QuantizeIq4NlRowRef(new float[32], new byte[16], out _));
        Assert.Throws<QuantFormatException>(() => GgmlIq4.QuantizeIq4Xs(new float[256], default, new byte[256], new byte[4], out _));
    }

    [Fact]
    public void Iq4_Codebook_IsGgmlsSortedTable()
    {
        Assert.Equal(new sbyte[] { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 }, GgmlIq4.Codebook.ToArray());
    }
}
