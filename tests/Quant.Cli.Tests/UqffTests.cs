using System;
using System.Buffers.Binary;
using System.IO;
using Quant.Kernels;

namespace Quant.Cli.Tests;

/// <summary>
/// <c>quant raw uqff</c> then <c>quant raw unuqff</c>: quantized layers come back as exactly the
/// dequantized matrix, Unquant layers as the values rounded to their dtype; headers are read by hand.
/// </summary>
public sealed class UqffTests
{
    private const int Rows = 13, Columns = 128;

    [Theory]
    [InlineData("q4_0", false)]
    [InlineData("q4_0", true)]
    [InlineData("q8_0", false)]
    [InlineData("q8_0", true)]
    [InlineData("mxfp4_ggml", false)]
    [InlineData("mxfp4_ggml", true)]
    public void GgufLayer_RoundTripsAndHasGgufHeader(string format, bool withBias)
    {
        var (blob, weights, bias, restored, restoredBias) = RoundTrip(["--format", format], withBias, seed: format.Length * 31 + (withBias ? 1 : 0));

        var kernels = FormatKernels.For(format);
        var matrix = kernels.Quantize(weights, Rows, Columns);
        var expected = new float[Rows * Columns];
        kernels.Dequantize(matrix, expected);
        Raw.AssertSameFloats(expected, restored, $"{format} weight");

        // Gguf 0: u32 version, u8 type, u32 data_len, u8 has_bias, u32 ggml_type, u32 ndims, dims, blocks, [bias record].
        Assert.Equal(new byte[] { 0x00, 0x02, 0x00, 0x00 }, blob[..4]);
        Assert.Equal(0, blob[4]);
        long dataLength = Rows * (Columns / 32) * (format switch { "q4_0" => 18, "q8_0" => 34, _ => 17 });
        Assert.Equal(dataLength, U32(blob, 5));
        Assert.Equal(withBias ? 1 : 0, blob[9]);
        Assert.Equal(format switch { "q4_0" => 2u, "q8_0" => 8u, _ => 39u }, U32(blob, 10));
        Assert.Equal(2u, U32(blob, 14));
        Assert.Equal((uint)Rows, U32(blob, 18));
        Assert.Equal((uint)Columns, U32(blob, 22));
        Raw.AssertSameBytes(matrix.Plane(0).ToArray(), blob[26..(26 + (int)dataLength)], $"{format} blocks in the blob");
        int end = 26 + (int)dataLength;
        AssertBiasRecord(blob, end, bias, dtypeCode: 6, bytesPerValue: 4);
        if (withBias) Raw.AssertSameFloats(bias!, restoredBias!, "bias");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mxfp4Layer_RoundTripsAndHasTwoU8Records(bool withBias)
    {
        var (blob, weights, bias, restored, restoredBias) = RoundTrip(["--format", "mxfp4", "--rule", "mistralrs"], withBias, seed: 77);

        var kernels = FormatKernels.For("mxfp4");
        var matrix = kernels.Quantize(weights, Rows, Columns, kernels.Info.FindRule("mistralrs"));
        var expected = new float[Rows * Columns];
        kernels.Dequantize(matrix, expected);
        Raw.AssertSameFloats(expected, restored, "mxfp4 weight");

        // Mxfp4 6: u32 version, u8 type, u8 has_bias, blocks record U8 [N, K/2], scales record U8 [N, K/32], [bias].
        Assert.Equal(new byte[] { 0x00, 0x02, 0x00, 0x00 }, blob[..4]);
        Assert.Equal(6, blob[4]);
        Assert.Equal(withBias ? 1 : 0, blob[5]);
        int at = 6;
        foreach (var (plane, width) in new[] { (0, Columns / 2), (1, Columns / 32) })
        {
            Assert.Equal((uint)(Rows * width), U32(blob, at));
            Assert.Equal(0u, U32(blob, at + 4));
            Assert.Equal(2u, U32(blob, at + 8));
            Assert.Equal((uint)Rows, U32(blob, at + 12));
            Assert.Equal((uint)width, U32(blob, at + 16));
            Raw.AssertSameBytes(matrix.Plane(plane).ToArray(), blob[(at + 20)..(at + 20 + Rows * width)], $"mxfp4 plane {plane}");
            at += 20 + Rows * width;
        }
        AssertBiasRecord(blob, at, bias, dtypeCode: 6, bytesPerValue: 4);
        if (withBias) Raw.AssertSameFloats(bias!, restoredBias!, "bias");
    }

    [Theory]
    [InlineData("f32", 6, false)]
    [InlineData("f32", 6, true)]
    [InlineData("f16", 4, false)]
    [InlineData("f16", 4, true)]
    [InlineData("bf16", 5, false)]
    [InlineData("bf16", 5, true)]
    public void UnquantLayer_RoundTripsToTheDtypesRoundedValues(string dtype, int dtypeCode, bool withBias)
    {
        var (blob, weights, bias, restored, restoredBias) = RoundTrip(["--unquant", dtype], withBias, seed: dtypeCode * 3 + (withBias ? 1 : 0));

        Func<float, float> round = dtype switch
        {
            "f16" => v => (float)(Half)v,
            "bf16" => RoundToBf16,
            _ => v => v,
        };
        Raw.AssertSameFloats(Array.ConvertAll(weights, v => round(v)), restored, $"{dtype} weight");
        if (withBias) Raw.AssertSameFloats(Array.ConvertAll(bias!, v => round(v)), restoredBias!, $"{dtype} bias");

        // Unquant 1: u32 version, u8 type, u8 has_bias, weight record, [bias record], both in the dtype.
        int size = dtype == "f32" ? 4 : 2;
        Assert.Equal(new byte[] { 0x00, 0x02, 0x00, 0x00 }, blob[..4]);
        Assert.Equal(1, blob[4]);
        Assert.Equal(withBias ? 1 : 0, blob[5]);
        Assert.Equal((uint)(Rows * Columns * size), U32(blob, 6));
        Assert.Equal((uint)dtypeCode, U32(blob, 10));
        Assert.Equal(2u, U32(blob, 14));
        Assert.Equal((uint)Rows, U32(blob, 18));
        Assert.Equal((uint)Columns, U32(blob, 22));
        AssertBiasRecord(blob, 26 + Rows * Columns * size, bias, dtypeCode, size);
    }

    [Fact]
    public void Unuqff_BiasOutWithoutBias_FailsAndWritesNothing()
    {
        using var temp = new TempDir();
        Raw.WriteFloats(temp.File("w.f32"), Raw.Gaussian(Rows * Columns, seed: 5));
        CliRunner.Ok("raw", "uqff", "--format", "q8_0", "--cols", $"{Columns}", temp.File("w.f32"), temp.File("l.uqff"));

        var result = CliRunner.Run("raw", "unuqff", temp.File("l.uqff"), temp.File("out.f32"), "--bias-out", temp.File("b.f32"));

        Assert.Equal(3, result.ExitCode);
        Assert.Single(result.ErrLines);
        Assert.Contains("bias", result.Err, StringComparison.Ordinal);
        Assert.Equal(new[] { "l.uqff", "w.f32" }, temp.FileNames());
    }

    private static (byte[] Blob, float[] Weights, float[]? Bias, float[] Restored, float[]? RestoredBias) RoundTrip(string[] layerArgs, bool withBias, int seed)
    {
        using var temp = new TempDir();
        float[] weights = Raw.Gaussian(Rows * Columns, seed);
        float[]? bias = withBias ? Raw.Gaussian(Rows, seed + 1000) : null;
        Raw.WriteFloats(temp.File("w.f32"), weights);
        string[] biasArgs = [];
        if (bias is not null)
        {
            Raw.WriteFloats(temp.File("b.f32"), bias);
            biasArgs = ["--bias", temp.File("b.f32")];
        }

        CliRunner.Ok(["raw", "uqff", .. layerArgs, "--cols", $"{Columns}", .. biasArgs, temp.File("w.f32"), temp.File("layer.uqff")]);
        string[] biasOut = withBias ? ["--bias-out", temp.File("b2.f32")] : [];
        CliRunner.Ok(["raw", "unuqff", temp.File("layer.uqff"), temp.File("w2.f32"), .. biasOut]);

        return (File.ReadAllBytes(temp.File("layer.uqff")), weights, bias, Raw.ReadFloats(temp.File("w2.f32")),
            withBias ? Raw.ReadFloats(temp.File("b2.f32")) : null);
    }

    /// <summary>Checks the optional bias record at <paramref name="at"/>: <c>u32 data_len, u32 dtype, u32 ndims = 1, u32 N, data</c>, ending the blob.</summary>
    private static void AssertBiasRecord(byte[] blob, int at, float[]? bias, int dtypeCode, int bytesPerValue)
    {
        if (bias is null)
        {
            Assert.Equal(at, blob.Length);
            return;
        }
        Assert.Equal((uint)(bias.Length * bytesPerValue), U32(blob, at));
        Assert.Equal((uint)dtypeCode, U32(blob, at + 4));
        Assert.Equal(1u, U32(blob, at + 8));
        Assert.Equal((uint)bias.Length, U32(blob, at + 12));
        Assert.Equal(at + 16 + bias.Length * bytesPerValue, blob.Length);
    }

    private static uint U32(byte[] blob, int at) => BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(at, 4));

    // Round to nearest even on the top 16 bits (ggml's and PyTorch's bf16 rounding; the data has no NaN).
    private static float RoundToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        uint rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16;
        return BitConverter.UInt32BitsToSingle(rounded << 16);
    }
}
