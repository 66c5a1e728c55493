using System;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// MXFP4 written from the OCP MX 1.0 definitions, in float64, independent of the generated code: E2M1
/// codes (bit 3 the sign, bits 0-2 an index into {0, 0.5, 1, 1.5, 2, 3, 4, 6}) times an E8M0 scale
/// 2^(e - 127); and the two byte layouts the library stores them in.
/// </summary>
internal static class Mxfp4Reference
{
    public static readonly double[] Magnitudes = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

    /// <summary>
    /// E2M1 code times 2^(e - 127), computed in float64 and rounded once to float32 (exact for e &lt;= 254).
    /// Code 8, E2M1's negative zero, gives +0.0: the library keeps ggml's integer table, whose zero has no sign.
    /// </summary>
    public static float Decode(int code, int e)
    {
        double magnitude = Magnitudes[code & 7];
        double value = (code & 8) != 0 && magnitude != 0 ? -magnitude : magnitude;
        return (float)(value * Math.ScaleB(1.0, e - 127));
    }

    /// <summary>Element <paramref name="i"/> of a checkpoint-layout blocks row: byte i/2, low nibble for even i, high for odd.</summary>
    public static int CheckpointCode(ReadOnlySpan<byte> blocksRow, int i) => (blocksRow[i >> 1] >> ((i & 1) * 4)) & 15;

    /// <summary>Element <paramref name="j"/> (0-31) of one ggml 17-byte record: qs[j] low nibble for j &lt; 16, qs[j - 16] high nibble otherwise.</summary>
    public static int GgmlCode(ReadOnlySpan<byte> record, int j) => j < 16 ? record[1 + j] & 15 : record[1 + j - 16] >> 4;

    /// <summary>Packs element codes into a checkpoint-layout blocks row (element 2i low nibble, 2i + 1 high nibble of byte i).</summary>
    public static void PackCheckpoint(ReadOnlySpan<int> codes, Span<byte> blocksRow)
    {
        for (int i = 0; i < codes.Length; i += 2) blocksRow[i >> 1] = (byte)(codes[i] | (codes[i + 1] << 4));
    }

    /// <summary>
    /// mistral.rs' MXFP4Layer::quantize for one row, reimplemented from its description: per block of 32,
    /// amax = max |v| (NaN ignored); scale = 127 for amax == 0, else clamp((i32)floor(log2f(amax / 6)) + 127, 0, 254)
    /// where the cast saturates and the i32 addition wraps, as a Rust release build does; inv = 1 / 2^(scale - 127); magnitude index by the thresholds 0.25, 0.75, 1.25, 1.75, 2.5,
    /// 3.5, 5 (a tie goes up, NaN to 7); sign bit when v * inv &lt; 0; element 2i low nibble, 2i + 1 high.
    /// </summary>
    public static void MistralRsQuantize(ReadOnlySpan<float> row, Span<byte> blocks, Span<byte> scales)
    {
        Span<int> codes = stackalloc int[32];
        for (int b = 0; b < row.Length / 32; b++)
        {
            var block = row.Slice(b * 32, 32);
            float amax = 0f;
            foreach (float v in block)
            {
                float a = MathF.Abs(v);
                if (a > amax) amax = a; // false for NaN: ignored
            }
            byte scale;
            if (amax == 0f)
            {
                scale = 127;
            }
            else
            {
                // Rust: `(..).log2().floor() as i32 + 127`: `as` saturates (+inf gives i32::MAX), and the addition wraps in release builds.
                int floor = (int)MathF.Floor(MathF.Log2(amax / 6f));
                scale = (byte)Math.Clamp(unchecked(floor + 127), 0, 254);
            }
            float scaleFactor = (float)Math.ScaleB(1.0, scale - 127); // exact, a subnormal for scale 0
            float inv = 1f / scaleFactor;
            for (int i = 0; i < 32; i++)
            {
                float x = block[i] * inv;
                float a = MathF.Abs(x);
                int index = a < 0.25f ? 0 : a < 0.75f ? 1 : a < 1.25f ? 2 : a < 1.75f ? 3 : a < 2.5f ? 4 : a < 3.5f ? 5 : a < 5.0f ? 6 : 7;
                codes[i] = x < 0f ? index | 8 : index;
            }
            scales[b] = scale;
            PackCheckpoint(codes, blocks.Slice(b * 16, 16));
        }
    }
}
