using System;
using System.Linq;
using Quant.CustomFormats.Tests.Formats;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Numerics;

namespace Quant.CustomFormats.Tests;

/// <summary>
/// The formats this assembly declares, checked against their declarations from the outside: registration and
/// layout, dequantization against decoders written here byte by byte from each declaration's doc comment, and
/// quantization against each rule's definition. (The conformance suite checks the rest, as for every format.)
/// </summary>
public sealed class CustomFormatLayoutTests
{
    private static readonly float[] s_nf3Table = [-1f, -0.535f, -0.2469f, 0f, 0.1833f, 0.3819f, 0.6229f, 1f];

    [Fact]
    public void TouchingOneFormatType_RegistersEveryFormatOfThisAssembly_WithItsDeclaredLayout()
    {
        _ = Nf3F16.Info; // the module initializer that registers this assembly's formats has run by now
        QuantCatalog.EnsureRegistered();
        var mine = QuantFormatRegistry.All.Where(e => e.FormatType.Assembly == typeof(Nf3F16).Assembly).Select(e => e.Info.Name).Order().ToArray();
        Assert.Equal(new[] { "affine5_bf16", "e3m2_f16", "int4_hf", "nf3_f16" }, mine);
        Assert.Contains(QuantFormatRegistry.All, e => e.Info.Name == "q4_0"); // next to the built-in catalogue
        // The conformance suite runs here on exactly these (the built-in ones run it in Quant.Formats.Tests).
        Assert.Equal(mine, global::Quant.Formats.Tests.Conformance.ConformanceFormats.All.Select(e => e.Info.Name).Order().ToArray());

        AssertLayout(Nf3F16.Info, 16, 3, UqffLayer.Gguf, 1003, ("blocks", 2 + 6));
        AssertLayout(Affine5Bf16.Info, 32, 5, UqffLayer.None, -1, ("qweight", 20), ("scales", 2), ("biases", 2));
        AssertLayout(E3M2F16.Info, 64, 6, UqffLayer.None, -1, ("blocks", 2 + 48));
        AssertLayout(Int4HighFirst.Info, 128, 4, UqffLayer.None, -1, ("weight", 64), ("absmax", 4));
        Assert.Equal(4.0, Nf3F16.Info.BitsPerWeight);
        Assert.Equal(6.0, Affine5Bf16.Info.BitsPerWeight);
        Assert.Equal(6.25, E3M2F16.Info.BitsPerWeight);
        Assert.Same(Nf3F16.Info, QuantFormatRegistry.FindByGgufType(1003)!.Info);
    }

    [Fact]
    public void Nf3F16_GeneratedUqffMethods_RoundTripAsAGgufLayerOfType1003_AndRefuseOtherFormats()
    {
        var rng = new SplitMix64(5050);
        var entry = QuantFormatRegistry.Get("nf3_f16");
        var matrix = new QuantMatrix(entry.Info, 3, 64);
        rng.NextBytes(matrix.Plane(0).Span);
        float[] bias = [1f, -0f, 2.5f];

        byte[] blob = Nf3F16.WriteUqffLayer(matrix, bias);
        Assert.Equal((byte)UqffLayer.Gguf, blob[4]);
        Assert.Equal(1003, BitConverter.ToInt32(blob, 10)); // u32 version, u8 type, u32 data_len, u8 has_bias, then the ggml type
        var back = Nf3F16.ReadUqffLayer(blob, out var biasBack);
        Check.BytesEqual(matrix.Plane(0).Span, back.Plane(0).Span, "seed 5050, nf3_f16 generated UQFF round trip");
        Check.BitsEqual(bias, biasBack!, "seed 5050, nf3_f16 bias");

        var q4 = FormatKernels.For("q4_0").Quantize(TestData.Matrix(rng, 3, 64, Dist.Gaussian), 3, 64);
        Assert.Throws<QuantFormatException>(() => Nf3F16.ReadUqffLayer(Quant.Uqff.UqffCodec.WriteLayer(q4), out _));
        Assert.ThrowsAny<ArgumentException>(() => Nf3F16.WriteUqffLayer(q4));
    }

    private static void AssertLayout(QuantFormatInfo info, int blockSize, int codeBits, UqffLayer uqff, int gguf, params (string Name, int Bytes)[] planes)
    {
        Assert.Equal(blockSize, info.BlockSize);
        Assert.Equal(codeBits, info.CodeBits);
        Assert.Equal(uqff, info.Uqff);
        Assert.Equal(gguf, info.GgufType);
        Assert.Equal(planes, info.Planes.Select(p => (p.Name, p.BytesPerBlock)).ToArray());
        Assert.All(info.Planes, p => Assert.Equal(PlaneExtent.Block, p.Extent));
    }

    // ---- dequantization against decoders written here

    [Theory]
    [InlineData("nf3_f16", 5101UL)]
    [InlineData("affine5_bf16", 5102UL)]
    [InlineData("e3m2_f16", 5103UL)]
    [InlineData("int4_hf", 5104UL)]
    public void Dequantize_RandomBytes_EveryLevel_MatchesTheDeclaredLayoutDecodedByHand(string format, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var entry = QuantFormatRegistry.Get(format);
        int bs = entry.Info.BlockSize, rows = 3, cols = 5 * bs;
        var matrix = new QuantMatrix(entry.Info, rows, cols);
        for (int p = 0; p < entry.Info.Planes.Count; p++) rng.NextBytes(matrix.Plane(p).Span);
        TameScales(format, matrix, rng);

        var expected = new float[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < cols / bs; b++) DecodeBlock(format, matrix, r, b, expected.AsSpan(r * cols + b * bs, bs));
        }
        foreach (var level in TestFormats.Levels)
        {
            Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"seed {seed}, {format}, {level}", cols);
        }
    }

    /// <summary>Random scales stay finite and moderate (an infinite scale times a zero code is NaN, which says nothing about the layout).</summary>
    private static void TameScales(string format, QuantMatrix matrix, SplitMix64 rng)
    {
        switch (format)
        {
            case "nf3_f16":
            case "e3m2_f16":
                int record = matrix.Format.Planes[0].BytesPerBlock;
                for (int at = 0; at < matrix.Plane(0).Length; at += record) BitConverter.TryWriteBytes(matrix.Plane(0).Span.Slice(at, 2), BitConverter.HalfToUInt16Bits((Half)(float)(rng.NextGaussian() * 4)));
                break;
            case "affine5_bf16":
                for (int p = 1; p <= 2; p++)
                {
                    for (int at = 0; at < matrix.Plane(p).Length; at += 2) BitConverter.TryWriteBytes(matrix.Plane(p).Span.Slice(at, 2), Bf16.FromSingle((float)(rng.NextGaussian() * 4)));
                }
                break;
            default:
                for (int at = 0; at < matrix.Plane(1).Length; at += 4) BitConverter.TryWriteBytes(matrix.Plane(1).Span.Slice(at, 4), (float)(rng.NextGaussian() * 4));
                break;
        }
    }

    private static void DecodeBlock(string format, QuantMatrix matrix, int row, int block, Span<float> y)
    {
        var info = matrix.Format;
        int bs = info.BlockSize;
        ReadOnlySpan<byte> Plane(int p) => matrix.Row(row)[p].Slice(block * info.Planes[p].BytesPerBlock, info.Planes[p].BytesPerBlock);
        switch (format)
        {
            case "nf3_f16":
            {
                // d (binary16) at byte 0, then 16 codes of 3 bits as one LSB-first stream.
                var record = Plane(0);
                float d = (float)BitConverter.UInt16BitsToHalf((ushort)(record[0] | record[1] << 8));
                var codes = CodePacking.UnpackLsbFirst(record.Slice(2), 3, bs);
                for (int i = 0; i < bs; i++) y[i] = (float)((double)s_nf3Table[codes[i]] * d);
                break;
            }
            case "affine5_bf16":
            {
                // 32 codes of 5 bits, LSB first; y = d * q + m in float32, d and m bfloat16 (the top half of a float32).
                var codes = CodePacking.UnpackLsbFirst(Plane(0), 5, bs);
                float d = BitConverter.UInt32BitsToSingle((uint)(Plane(1)[0] | Plane(1)[1] << 8) << 16);
                float m = BitConverter.UInt32BitsToSingle((uint)(Plane(2)[0] | Plane(2)[1] << 8) << 16);
                for (int i = 0; i < bs; i++)
                {
                    float product = d * codes[i];
                    y[i] = product + m;
                }
                break;
            }
            case "e3m2_f16":
            {
                var record = Plane(0);
                float d = (float)BitConverter.UInt16BitsToHalf((ushort)(record[0] | record[1] << 8));
                var codes = CodePacking.UnpackLsbFirst(record.Slice(2), 6, bs);
                for (int i = 0; i < bs; i++) y[i] = (float)(MinifloatLayout.E3M2.Value(codes[i]) * d);
                break;
            }
            case "int4_hf":
            {
                // Element 2i in the high nibble of byte i, 2i + 1 in the low; two's complement nibbles; an F32 scale.
                var bytes = Plane(0);
                float d = BitConverter.ToSingle(Plane(1));
                for (int i = 0; i < bs; i++)
                {
                    int nibble = i % 2 == 0 ? bytes[i / 2] >> 4 : bytes[i / 2] & 15;
                    int q = nibble >= 8 ? nibble - 16 : nibble;
                    y[i] = (float)((double)q * d);
                }
                break;
            }
            default:
                throw new ArgumentException(format);
        }
    }

    // ---- quantization against each rule's definition

    [Theory]
    [InlineData("nf3_f16", 5201UL)]
    [InlineData("affine5_bf16", 5202UL)]
    [InlineData("e3m2_f16", 5203UL)]
    [InlineData("int4_hf", 5204UL)]
    public void Quantize_ScalesFollowTheRule_AndEveryCodeIsANearestOne(string format, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var entry = QuantFormatRegistry.Get(format);
        int bs = entry.Info.BlockSize, rows = 4, cols = 6 * bs;
        var data = TestData.Matrix(rng, rows, cols, Dist.Mixed);
        var matrix = FormatKernels.For(entry).Quantize(data, rows, cols);
        var values = TestFormats.Dequantize(entry, matrix);
        var failures = new FailureLog();
        for (int block = 0; block < rows * cols / bs; block++)
        {
            var x = data.AsSpan(block * bs, bs);
            var y = values.AsSpan(block * bs, bs);
            float amax = 0, min = float.MaxValue, max = float.MinValue;
            foreach (float v in x)
            {
                amax = Math.Max(amax, Math.Abs(v));
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
            int r = block / (cols / bs), b = block % (cols / bs);
            string context = $"seed {seed}, {format}, row {r}, block {b} (amax {amax:R})";
            var candidates = Candidates(format, matrix, r, b, out double scale);
            double expectedScale = format switch
            {
                "nf3_f16" => Binary16(amax),                     // d = amax / 1, the table's largest magnitude
                "affine5_bf16" => BFloat16((max - min) / 31f),   // d = (max - min) / (2^5 - 1)
                "e3m2_f16" => Binary16(amax / 28f),              // d = amax / 28, E3M2's largest value
                _ => amax / 7f,                                  // d = amax / 7
            };
            failures.Run(() => Assert.True(scale == expectedScale, $"{context}: stored scale {scale:R}, the rule gives {expectedScale:R}"));
            for (int i = 0; i < bs; i++)
            {
                // The reconstruction is a nearest candidate to x, up to float32 rounding at a midpoint.
                float value = x[i];
                double best = candidates.Min(c => Math.Abs(c - value));
                double got = Math.Abs(y[i] - value);
                double slack = format == "affine5_bf16"
                    ? Math.Abs(scale) * 31 * Math.ScaleB(1.0, -8) + Math.Abs(min) * Math.ScaleB(1.0, -8) // codes are chosen with d and m before their bfloat16 rounding
                    : Math.Abs(scale) * 1e-5;
                int element = i;
                failures.Run(() => Assert.True(got <= best + slack, $"{context}, element {element}: x = {value:R} became {got:R} away; the nearest representable value is {best:R} away"));
            }
        }
        failures.ThrowIfAny();
    }

    private static double Binary16(float value) => MinifloatLayout.Binary16.Value(MinifloatLayout.Binary16.Encode(value, MinifloatOverflow.Infinity));

    private static double BFloat16(float value) => MinifloatLayout.BFloat16.Value(MinifloatLayout.BFloat16.Encode(value, MinifloatOverflow.Infinity));

    /// <summary>Every value block (r, b) can represent with its stored scale, and that scale.</summary>
    private static double[] Candidates(string format, QuantMatrix matrix, int row, int block, out double scale)
    {
        var info = matrix.Format;
        ReadOnlySpan<byte> Plane(int p) => matrix.Row(row)[p].Slice(block * info.Planes[p].BytesPerBlock, info.Planes[p].BytesPerBlock);
        switch (format)
        {
            case "nf3_f16":
            {
                float d = (float)BitConverter.UInt16BitsToHalf((ushort)(Plane(0)[0] | Plane(0)[1] << 8));
                scale = d;
                return s_nf3Table.Select(t => (double)(float)((double)t * d)).ToArray();
            }
            case "affine5_bf16":
            {
                float d = BitConverter.UInt32BitsToSingle((uint)(Plane(1)[0] | Plane(1)[1] << 8) << 16);
                float m = BitConverter.UInt32BitsToSingle((uint)(Plane(2)[0] | Plane(2)[1] << 8) << 16);
                scale = d;
                return Enumerable.Range(0, 32).Select(q => (double)(d * q + m)).ToArray();
            }
            case "e3m2_f16":
            {
                float d = (float)BitConverter.UInt16BitsToHalf((ushort)(Plane(0)[0] | Plane(0)[1] << 8));
                scale = d;
                return Enumerable.Range(0, 64).Select(c => (double)(float)(MinifloatLayout.E3M2.Value(c) * d)).ToArray();
            }
            default:
            {
                float d = BitConverter.ToSingle(Plane(1));
                scale = d;
                return Enumerable.Range(-8, 16).Select(q => (double)(float)((double)q * d)).ToArray();
            }
        }
    }
}
