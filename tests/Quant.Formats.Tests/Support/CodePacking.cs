using System;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// The code layouts written out by hand from their definitions, independently of the library's packers:
/// an LSB-first bit stream (checkpoint layouts: element i in bits i*b .. i*b + b - 1, so 4-bit element 2i is
/// the low nibble of byte i), and ggml's split halves (element j low nibble of byte j, j + 16 high nibble).
/// </summary>
internal static class CodePacking
{
    /// <summary>Packs <paramref name="codes"/> of <paramref name="bits"/> bits each as an LSB-first bit stream.</summary>
    public static byte[] PackLsbFirst(ReadOnlySpan<int> codes, int bits)
    {
        var bytes = new byte[(codes.Length * bits + 7) / 8];
        for (int i = 0; i < codes.Length; i++)
        {
            for (int b = 0; b < bits; b++)
            {
                if (((codes[i] >> b) & 1) == 0) continue;
                int bit = i * bits + b;
                bytes[bit >> 3] |= (byte)(1 << (bit & 7));
            }
        }
        return bytes;
    }

    /// <summary>Reads <paramref name="count"/> codes of <paramref name="bits"/> bits from an LSB-first bit stream.</summary>
    public static int[] UnpackLsbFirst(ReadOnlySpan<byte> bytes, int bits, int count)
    {
        var codes = new int[count];
        for (int i = 0; i < count; i++)
        {
            int code = 0;
            for (int b = 0; b < bits; b++)
            {
                int bit = i * bits + b;
                code |= ((bytes[bit >> 3] >> (bit & 7)) & 1) << b;
            }
            codes[i] = code;
        }
        return codes;
    }

    /// <summary>ggml's 4-bit split halves for one 32-element block: 16 bytes, element j low nibble of byte j, element j + 16 high nibble.</summary>
    public static byte[] PackSplitHalves(ReadOnlySpan<int> codes32)
    {
        if (codes32.Length != 32) throw new ArgumentException("A block of 32 codes.", nameof(codes32));
        var bytes = new byte[16];
        for (int j = 0; j < 16; j++) bytes[j] = (byte)((codes32[j] & 15) | ((codes32[j + 16] & 15) << 4));
        return bytes;
    }
}
