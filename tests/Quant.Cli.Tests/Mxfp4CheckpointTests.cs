using System;
using System.IO;
using System.Linq;
using Quant.Kernels;

namespace Quant.Cli.Tests;

/// <summary>
/// The two-plane mxfp4 checkpoint layout through the CLI, on fresh data: the raw file is the blocks
/// plane for every row then the scales plane for every row, and matches the kernels called directly.
/// </summary>
public sealed class Mxfp4CheckpointTests
{
    // E2M1 magnitudes by the low three bits of a code; bit 3 is the sign.
    private static readonly float[] s_e2m1 = [0f, 0.5f, 1f, 1.5f, 2f, 3f, 4f, 6f];

    [Theory]
    [InlineData(37, 320, null)]
    [InlineData(5, 64, "mistralrs")]
    [InlineData(64, 1024, "ocp")]
    public void QuantizeThenDequantize_EqualsFormatKernelsAndHasTwoPlanes(int rows, int k, string? rule)
    {
        float[] weights = Raw.Gaussian(rows * k, seed: rows * 7919 + k, scale: 0.05f);
        using var temp = new TempDir();
        string input = temp.File("w.f32"), quantized = temp.File("w.mxfp4"), restored = temp.File("w2.f32");
        Raw.WriteFloats(input, weights);

        string[] ruleArgs = rule is null ? [] : ["--rule", rule];
        CliRunner.Ok(["raw", "quantize", "--format", "mxfp4", "--cols", $"{k}", .. ruleArgs, input, quantized]);
        CliRunner.Ok("raw", "dequantize", "--format", "mxfp4", "--cols", $"{k}", quantized, restored);

        byte[] file = File.ReadAllBytes(quantized);
        Assert.Equal(rows * (k / 2) + rows * (k / 32), file.Length);

        var kernels = FormatKernels.For("mxfp4");
        var matrix = kernels.Quantize(weights, rows, k, kernels.Info.FindRule(rule));
        Raw.AssertSameBytes(Raw.Concat([matrix.Plane(0).ToArray(), matrix.Plane(1).ToArray()]), file, "mxfp4 raw file");
        var expected = new float[rows * k];
        kernels.Dequantize(matrix, expected);
        Raw.AssertSameFloats(expected, Raw.ReadFloats(restored), "mxfp4 dequantized");
    }

    [Fact]
    public void RawFile_IsBlocksPlaneThenScalesPlane_DecodedByHand()
    {
        const int rows = 9, k = 96;
        float[] weights = Raw.Gaussian(rows * k, seed: 42);
        using var temp = new TempDir();
        string input = temp.File("w.f32"), quantized = temp.File("w.mxfp4"), restored = temp.File("w2.f32");
        Raw.WriteFloats(input, weights);
        CliRunner.Ok("raw", "quantize", "--format", "mxfp4", "--cols", $"{k}", "--rule", "ocp", input, quantized);
        CliRunner.Ok("raw", "dequantize", "--format", "mxfp4", "--cols", $"{k}", quantized, restored);
        byte[] file = File.ReadAllBytes(quantized);
        float[] floats = Raw.ReadFloats(restored);

        int blocksPlane = rows * k / 2;
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < k / 32; b++)
            {
                // The OCP MX rule: shared exponent floor(log2(amax)) - 2, biased by 127.
                float amax = weights.Skip(r * k + b * 32).Take(32).Max(MathF.Abs);
                int exponent = Math.ILogB(amax) - 2 + 127;
                byte scale = file[blocksPlane + r * (k / 32) + b];
                Assert.Equal(exponent, scale);
                for (int i = 0; i < 32; i++)
                {
                    // Element 2j in the low nibble of byte j of the block, 2j + 1 in the high nibble.
                    byte packed = file[r * (k / 2) + b * 16 + i / 2];
                    int code = i % 2 == 0 ? packed & 0xF : packed >> 4;
                    float value = (code >= 8 ? -1f : 1f) * s_e2m1[code & 7] * MathF.Pow(2, scale - 127);
                    Assert.Equal(value, floats[r * k + b * 32 + i]);
                }
            }
        }
    }
}
