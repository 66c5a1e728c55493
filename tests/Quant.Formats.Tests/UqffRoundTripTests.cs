using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Uqff;

namespace Quant.Formats.Tests;

/// <summary>
/// UQFF layer blobs written and read back: the generated per-format UQFF methods, and Unquant layers (type 1)
/// of F32, F16 and BF16 weights whose values come back exactly (F16 / BF16: equal to the rounded values). Every
/// quantized format's own layer (Gguf, type 0; Mxfp4, type 6) round trips in the conformance suite,
/// Conformance/FormatConformance.cs.
/// </summary>
public sealed class UqffRoundTripTests
{
    [Fact]
    public void UqffFormats_IncludeTheFourBuiltIns()
    {
        var byName = TestFormats.All.ToDictionary(e => e.Info.Name, e => e.Info);
        Assert.Equal(UqffLayer.Gguf, byName["q4_0"].Uqff);
        Assert.Equal(UqffLayer.Gguf, byName["q8_0"].Uqff);
        Assert.Equal(UqffLayer.Gguf, byName["mxfp4_ggml"].Uqff);
        Assert.Equal(UqffLayer.Mxfp4, byName["mxfp4"].Uqff);
        Assert.Equal(2, byName["q4_0"].GgufType);
        Assert.Equal(8, byName["q8_0"].GgufType);
        Assert.Equal(39, byName["mxfp4_ggml"].GgufType);
    }

    [Fact]
    public void GeneratedUqffMethods_RoundTripAndRefuseOtherFormats()
    {
        var rng = new SplitMix64(1450);
        var q4 = TestFormats.RandomBytes(TestFormats.Get("q4_0"), 3, 64, rng);
        var q8 = TestFormats.RandomBytes(TestFormats.Get("q8_0"), 3, 64, rng);
        var mx = TestFormats.RandomBytes(TestFormats.Get("mxfp4"), 3, 64, rng);
        var mxg = TestFormats.RandomBytes(TestFormats.Get("mxfp4_ggml"), 3, 64, rng);
        float[] bias = [1f, -2f, 3.5f];

        Check.BytesEqual(q4.Plane(0).Span, Q4_0.ReadUqffLayer(Q4_0.WriteUqffLayer(q4, bias), out var b1).Plane(0).Span, "q4_0 generated round trip");
        Check.BitsEqual(bias, b1!, "q4_0 generated bias");
        Check.BytesEqual(q8.Plane(0).Span, Q8_0.ReadUqffLayer(Q8_0.WriteUqffLayer(q8), out var b2).Plane(0).Span, "q8_0 generated round trip");
        Assert.Null(b2);
        Check.BytesEqual(mx.Plane(1).Span, Mxfp4.ReadUqffLayer(Mxfp4.WriteUqffLayer(mx, bias), out _).Plane(1).Span, "mxfp4 generated round trip");
        Check.BytesEqual(mxg.Plane(0).Span, Mxfp4Ggml.ReadUqffLayer(Mxfp4Ggml.WriteUqffLayer(mxg), out _).Plane(0).Span, "mxfp4_ggml generated round trip");

        Assert.Throws<QuantFormatException>(() => Q8_0.ReadUqffLayer(Q4_0.WriteUqffLayer(q4), out _));
        Assert.Throws<QuantFormatException>(() => Mxfp4.ReadUqffLayer(Mxfp4Ggml.WriteUqffLayer(mxg), out _));
        Assert.Throws<QuantFormatException>(() => Mxfp4Ggml.ReadUqffLayer(Mxfp4.WriteUqffLayer(mx), out _));
        Assert.ThrowsAny<ArgumentException>(() => Q4_0.WriteUqffLayer(q8));
        Assert.Throws<QuantFormatException>(() => UqffCodec.WriteLayer(q4, [1f, 2f]));
    }

    public static TheoryData<UqffDType, bool> UnquantCases() => new()
    {
        { UqffDType.F32, false }, { UqffDType.F32, true },
        { UqffDType.F16, false }, { UqffDType.F16, true },
        { UqffDType.BF16, false }, { UqffDType.BF16, true },
    };

    [Theory, MemberData(nameof(UnquantCases))]
    public void UnquantLayer_WriteThenRead_ValuesRoundTripExactly(UqffDType dtype, bool withBias)
    {
        var rng = new SplitMix64(1500 + (ulong)dtype);
        const int n = 7, k = 45; // Unquant layers need no block multiple
        var weight = TestData.Matrix(rng, n, k, Dist.Mixed);
        // Specials: signed zeros, infinities, NaN, subnormals (F32's and F16's), ties of F16 and BF16 rounding, overflow.
        float[] specials = [-0f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-40f, -3e-45f, 6e-8f, 3e-5f,
            1f + MathF.ScaleB(1f, -11), 1f + MathF.ScaleB(1f, -8), 1f + MathF.ScaleB(3f, -9), 65504f, 65520f, 1e5f, 3e38f, BitConverter.UInt32BitsToSingle(0x7F812345)];
        specials.CopyTo(weight, 3);
        var bias = withBias ? TestData.Matrix(rng, 1, n, Dist.HeavyTailed) : null;

        var blob = UqffCodec.WriteUnquant(weight, n, k, dtype, bias);
        Assert.Equal((byte)UqffLayer.Unquant, blob[4]);
        var layer = UqffCodec.ReadLayer(blob);
        Assert.Equal(UqffLayer.Unquant, layer.Type);
        Assert.Single(layer.Tensors);
        Assert.Equal(dtype, layer.Tensors[0].DType);
        Assert.Equal(new[] { n, k }, layer.Tensors[0].Dims);
        Check.BitsEqual(Rounded(weight, dtype), layer.Tensors[0].ToSingle(), $"Unquant {dtype} weight", k);
        if (bias is null)
        {
            Assert.Null(layer.Bias);
        }
        else
        {
            Assert.Equal(dtype, layer.Bias!.DType);
            Assert.Equal(new[] { n }, layer.Bias.Dims);
            Check.BitsEqual(Rounded(bias, dtype), layer.Bias.ToSingle(), $"Unquant {dtype} bias");
        }
        // An Unquant layer is not a quantized matrix.
        Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(blob, out _));
    }

    [Fact]
    public void UnquantLayer_F32_KeepsEveryBitPattern()
    {
        var rng = new SplitMix64(1510);
        var bits = new float[64];
        for (int i = 0; i < bits.Length; i++) bits[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextU64());
        var blob = UqffCodec.WriteUnquant(bits, 4, 16, UqffDType.F32);
        var back = UqffCodec.ReadLayer(blob).Tensors[0].Data;
        Check.BytesEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(bits.AsSpan()), back, "F32 payload, NaN payloads included");
    }

    /// <summary>What the stored values must read back as: F32 itself, F16 round-to-nearest-even, BF16 ggml's rounding.</summary>
    private static float[] Rounded(IReadOnlyList<float> values, UqffDType dtype)
    {
        var result = new float[values.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = dtype switch
            {
                UqffDType.F32 => values[i],
                UqffDType.F16 => (float)(Half)values[i],
                UqffDType.BF16 => Blob.FromBf16Bits(Blob.Bf16Bits(values[i])),
                _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
            };
        }
        return result;
    }
}
