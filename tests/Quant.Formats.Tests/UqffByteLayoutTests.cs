using System;
using Quant.Formats.Tests.Support;
using Quant.Uqff;

namespace Quant.Formats.Tests;

/// <summary>
/// The exact bytes of UQFF 0.2.0 layer blobs (DESIGN.md section 7), assembled field by field in the test
/// and compared with the writer; and the reader's version rule (major 0, minor up to 2, patch ignored).
/// </summary>
public sealed class UqffByteLayoutTests
{
    private static QuantMatrix WithBytes(string format, int rows, int cols, params byte[][] planes)
    {
        var info = TestFormats.Get(format).Info;
        return new QuantMatrix(info, rows, cols, Array.ConvertAll(planes, p => (Memory<byte>)p));
    }

    private static byte[] Pattern(int length, int salt)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = (byte)(i * 37 + salt);
        return bytes;
    }

    [Fact]
    public void GgufLayer_Q4_0_NoBias_HasTheExactLayout()
    {
        var data = Pattern(2 * 18, 1);
        var expected = new Blob()
            .U32(0x00000200) // version 0.2.0
            .U8(0)           // layer type Gguf
            .U32(36)         // data_len, before has_bias in Gguf layers
            .U8(0)           // has_bias
            .U32(2)          // ggml type Q4_0
            .U32(2).U32(2).U32(32) // ndims, dims [N, K]
            .Raw(data)
            .ToArray();
        Check.BytesEqual(expected, UqffCodec.WriteLayer(WithBytes("q4_0", 2, 32, data)), "q4_0 Gguf layer, no bias");
        Assert.Equal(new byte[] { 0x00, 0x02, 0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00 }, expected[..10]);
    }

    [Fact]
    public void GgufLayer_Q8_0_WithBias_HasTheExactLayout()
    {
        var data = Pattern(3 * 2 * 34, 2);
        float[] bias = [0.5f, -1.25f, 3e38f];
        var expected = new Blob()
            .U32(Blob.Version).U8(0).U32(204).U8(1).U32(8)
            .U32(2).U32(3).U32(64)
            .Raw(data)
            .Tensor(Blob.F32Code, [3], System.Runtime.InteropServices.MemoryMarshal.AsBytes(bias.AsSpan()))
            .ToArray();
        Check.BytesEqual(expected, UqffCodec.WriteLayer(WithBytes("q8_0", 3, 64, data), bias), "q8_0 Gguf layer with bias");
    }

    [Fact]
    public void GgufLayer_Mxfp4Ggml_WithBias_HasTheExactLayout()
    {
        var data = Pattern(17, 3);
        float[] bias = [-0f];
        var expected = new Blob()
            .U32(Blob.Version).U8(0).U32(17).U8(1).U32(39)
            .U32(2).U32(1).U32(32)
            .Raw(data)
            .U32(4).U32(6).U32(1).U32(1).F32(bias)
            .ToArray();
        Check.BytesEqual(expected, UqffCodec.WriteLayer(WithBytes("mxfp4_ggml", 1, 32, data), bias), "mxfp4_ggml Gguf layer with bias");
    }

    [Fact]
    public void Mxfp4Layer_WithBias_HasTheExactLayout()
    {
        var blocks = Pattern(2 * 32, 4); // [N = 2, K/2 = 32]
        var scales = Pattern(2 * 2, 5);  // [N = 2, K/32 = 2]
        float[] bias = [1f, -2f];
        var expected = new Blob()
            .U32(Blob.Version)
            .U8(6)           // layer type Mxfp4
            .U8(1)           // has_bias
            .U32(64).U32(Blob.U8Code).U32(2).U32(2).U32(32).Raw(blocks)
            .U32(4).U32(Blob.U8Code).U32(2).U32(2).U32(2).Raw(scales)
            .U32(8).U32(Blob.F32Code).U32(1).U32(2).F32(bias)
            .ToArray();
        Check.BytesEqual(expected, UqffCodec.WriteLayer(WithBytes("mxfp4", 2, 64, blocks, scales), bias), "mxfp4 layer with bias");

        var noBias = new Blob()
            .U32(Blob.Version).U8(6).U8(0)
            .Tensor(Blob.U8Code, [2, 32], blocks)
            .Tensor(Blob.U8Code, [2, 2], scales)
            .ToArray();
        Check.BytesEqual(noBias, UqffCodec.WriteLayer(WithBytes("mxfp4", 2, 64, blocks, scales)), "mxfp4 layer without bias");
    }

    [Fact]
    public void UnquantLayer_F32_F16_BF16_HaveTheExactLayout()
    {
        float[] weight = [1f, -2.5f, 0.1f, 65504f, -0f, 3.14159f];
        float[] bias = [0.25f, -7f];

        var f32 = new Blob().U32(Blob.Version).U8(1).U8(1)
            .U32(24).U32(Blob.F32Code).U32(2).U32(2).U32(3).F32(weight)
            .U32(8).U32(Blob.F32Code).U32(1).U32(2).F32(bias)
            .ToArray();
        Check.BytesEqual(f32, UqffCodec.WriteUnquant(weight, 2, 3, UqffDType.F32, bias), "Unquant F32 with bias");

        var f16 = new Blob().U32(Blob.Version).U8(1).U8(0)
            .Tensor(Blob.F16Code, [2, 3], HalfBytes(weight))
            .ToArray();
        Check.BytesEqual(f16, UqffCodec.WriteUnquant(weight, 2, 3, UqffDType.F16), "Unquant F16 without bias");
        // Element 2, 0.1f, as binary16 is 0x2E66: 6 header bytes, 20 record header bytes, two elements before it.
        Assert.Equal(new byte[] { 0x66, 0x2E }, f16[(6 + 20 + 4)..(6 + 20 + 6)]);

        var bf16 = new Blob().U32(Blob.Version).U8(1).U8(1)
            .Tensor(Blob.BF16Code, [2, 3], Bf16Bytes(weight))
            .Tensor(Blob.BF16Code, [2], Bf16Bytes(bias))
            .ToArray();
        Check.BytesEqual(bf16, UqffCodec.WriteUnquant(weight, 2, 3, UqffDType.BF16, bias), "Unquant BF16 with bias");
    }

    [Fact]
    public void HandAssembledBlobs_ParseToTheirFields()
    {
        var data = Pattern(2 * 18, 9);
        var blob = new Blob().U32(Blob.Version).U8(0).U32(36).U8(1).U32(2).U32(2).U32(2).U32(32).Raw(data)
            .Tensor(Blob.F16Code, [2], HalfBytes([1.5f, -0.5f])).ToArray();
        var matrix = UqffCodec.ReadQuantLayer(blob, out var bias);
        Assert.Equal("q4_0", matrix.Format.Name);
        Assert.Equal((2, 32), (matrix.Rows, matrix.Columns));
        Check.BytesEqual(data, matrix.Plane(0).Span, "q4_0 data read back");
        Assert.Equal(new[] { 1.5f, -0.5f }, bias); // an F16 bias is read as floats too

        // A 3-D Mxfp4 weight (stacked experts [E, N, K/2]) reads as E * N rows.
        var blocks = Pattern(2 * 3 * 16, 10);
        var scales = Pattern(2 * 3, 11);
        var experts = new Blob().U32(Blob.Version).U8(6).U8(0)
            .Tensor(Blob.U8Code, [2, 3, 16], blocks)
            .Tensor(Blob.U8Code, [2, 3, 1], scales).ToArray();
        var stacked = UqffCodec.ReadQuantLayer(experts, out _);
        Assert.Equal("mxfp4", stacked.Format.Name);
        Assert.Equal((6, 32), (stacked.Rows, stacked.Columns));
        Check.BytesEqual(blocks, stacked.Plane(0).Span, "stacked blocks");
        Check.BytesEqual(scales, stacked.Plane(1).Span, "stacked scales");
    }

    public static TheoryData<uint> AcceptedVersions() => new() { 0x00000200u, 0x00000201u, 0x000002FFu, 0x00000100u, 0x00000000u, 0x000001FFu };

    public static TheoryData<uint> RejectedVersions() => new() { 0x00000300u, 0x0000FF00u, 0x00010200u, 0x00010000u, 0x00FF0200u, 0x01000200u, 0xFFFFFFFFu };

    [Theory, MemberData(nameof(AcceptedVersions))]
    public void Reader_AcceptsMajor0MinorUpTo2_IgnoringPatch(uint version)
    {
        var blob = Q4_0Blob(version);
        var layer = UqffCodec.ReadLayer(blob);
        Assert.Equal(version, layer.Version);
        Assert.Equal(UqffLayer.Gguf, layer.Type);
        Assert.Equal("q4_0", UqffCodec.ReadQuantLayer(blob, out _).Format.Name);
    }

    [Theory, MemberData(nameof(RejectedVersions))]
    public void Reader_RejectsOtherMajorOrMinorAbove2(uint version)
    {
        var e = Assert.Throws<QuantFormatException>(() => UqffCodec.ReadLayer(Q4_0Blob(version)));
        Assert.Equal(0, e.Offset);
    }

    private static byte[] Q4_0Blob(uint version)
        => new Blob().U32(version).U8(0).U32(18).U8(0).U32(2).U32(2).U32(1).U32(32).Raw(Pattern(18, 12)).ToArray();

    private static byte[] HalfBytes(float[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            ushort h = BitConverter.HalfToUInt16Bits((Half)values[i]);
            bytes[2 * i] = (byte)h;
            bytes[2 * i + 1] = (byte)(h >> 8);
        }
        return bytes;
    }

    private static byte[] Bf16Bytes(float[] values)
    {
        var bytes = new byte[2 * values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            ushort h = Blob.Bf16Bits(values[i]);
            bytes[2 * i] = (byte)h;
            bytes[2 * i + 1] = (byte)(h >> 8);
        }
        return bytes;
    }
}
