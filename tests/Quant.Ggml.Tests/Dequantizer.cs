using System;

namespace Quant.Ggml.Tests;

/// <summary>ggml's dequantization formulas (peer-vector README, section 2) on logical values, float32 step by step.</summary>
internal static class Dequantizer
{
    private static readonly sbyte[] Iq4Codebook = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    public static float[] Dequantize(string type, LogicalBlock b)
    {
        var y = new float[b.Codes.Length];
        for (int i = 0; i < y.Length; i++)
        {
            int q = b.Codes[i];
            y[i] = type switch
            {
                "q4_0" => (q - 8) * b.D,
                "q5_0" => (q - 16) * b.D,
                "q4_1" or "q5_1" => q * b.D + b.Dmin,
                "q2_K" => b.D * b.Scales[i / 16] * q - b.Dmin * b.Mins[i / 16],
                "q3_K" => b.D * (b.Scales[i / 16] - 32) * (q - 4),
                "q4_K" or "q5_K" => b.D * b.Scales[i / 32] * q - b.Dmin * b.Mins[i / 32],
                "q6_K" => b.D * b.Scales[i / 16] * (q - 32),
                "q8_K" => b.D * q,
                "iq4_nl" => b.D * Iq4Codebook[q],
                "iq4_xs" => b.D * (b.Scales[i / 32] - 32) * Iq4Codebook[q],
                _ => throw new ArgumentOutOfRangeException(nameof(type), type, "No dequantizer for this type."),
            };
        }
        return y;
    }
}
