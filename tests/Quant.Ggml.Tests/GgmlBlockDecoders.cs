using System;
using System.Buffers.Binary;

namespace Quant.Ggml.Tests;

/// <summary>
/// Decoders of ggml's stored blocks into logical values, written from the layout section of
/// tests/data/peer-vectors/README.md and independent of the library: they share no code with the
/// quantizers or the generated kernels, so a layout misunderstanding there cannot hide here.
/// </summary>
internal static class GgmlBlockDecoders
{
    public static LogicalBlock Decode(string type, ReadOnlySpan<byte> b) => type switch
    {
        "q4_0" => Q4_0(b),
        "q4_1" => Q4_1(b),
        "q5_0" => Q5_0(b),
        "q5_1" => Q5_1(b),
        "q2_K" => Q2_K(b),
        "q3_K" => Q3_K(b),
        "q4_K" => Q4_K(b),
        "q5_K" => Q5_K(b),
        "q6_K" => Q6_K(b),
        "q8_K" => Q8_K(b),
        "iq4_nl" => Iq4_Nl(b),
        "iq4_xs" => Iq4_Xs(b),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "No decoder for this type."),
    };

    /// <summary>binary16 to float32 by the textbook definition (independent of Quant.Numerics.Fp16).</summary>
    public static float Half(ReadOnlySpan<byte> b, int offset)
    {
        int h = BinaryPrimitives.ReadUInt16LittleEndian(b[offset..]);
        int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
        double magnitude = exponent switch
        {
            0 => mantissa * Math.Pow(2, -24),
            31 => mantissa == 0 ? double.PositiveInfinity : double.NaN,
            _ => (1024 + mantissa) * Math.Pow(2, exponent - 25),
        };
        return (float)(sign == 1 ? -magnitude : magnitude);
    }

    /// <summary>Sixteen bytes of nibbles, ggml's split-halves order: byte j holds value j (low) and j + 16 (high).</summary>
    private static int[] SplitNibbles(ReadOnlySpan<byte> qs)
    {
        var codes = new int[32];
        for (int j = 0; j < 16; j++)
        {
            codes[j] = qs[j] & 15;
            codes[j + 16] = qs[j] >> 4;
        }
        return codes;
    }

    private static LogicalBlock Q4_0(ReadOnlySpan<byte> b) => new() { D = Half(b, 0), Codes = SplitNibbles(b.Slice(2, 16)) };

    private static LogicalBlock Q4_1(ReadOnlySpan<byte> b) => new() { D = Half(b, 0), Dmin = Half(b, 2), Codes = SplitNibbles(b.Slice(4, 16)) };

    private static LogicalBlock Q5_0(ReadOnlySpan<byte> b) => new() { D = Half(b, 0), Codes = FifthBits(b.Slice(2, 4), b.Slice(6, 16)) };

    private static LogicalBlock Q5_1(ReadOnlySpan<byte> b) => new() { D = Half(b, 0), Dmin = Half(b, 2), Codes = FifthBits(b.Slice(4, 4), b.Slice(8, 16)) };

    private static int[] FifthBits(ReadOnlySpan<byte> qhBytes, ReadOnlySpan<byte> qs)
    {
        uint qh = BinaryPrimitives.ReadUInt32LittleEndian(qhBytes);
        int[] codes = SplitNibbles(qs);
        for (int i = 0; i < 32; i++) codes[i] |= (int)((qh >> i) & 1) << 4;
        return codes;
    }

    private static LogicalBlock Q2_K(ReadOnlySpan<byte> b)
    {
        ReadOnlySpan<byte> scales = b[..16], qs = b.Slice(16, 64);
        var block = new LogicalBlock { D = Half(b, 80), Dmin = Half(b, 82), Codes = new int[256], Scales = new int[16], Mins = new int[16] };
        for (int n = 0; n < 256; n++)
        {
            int h = n / 128, k = n % 128 / 32, l = n % 32;
            block.Codes[n] = (qs[32 * h + l] >> (2 * k)) & 3;
        }
        for (int g = 0; g < 16; g++)
        {
            block.Scales[g] = scales[g] & 15;
            block.Mins[g] = scales[g] >> 4;
        }
        return block;
    }

    private static LogicalBlock Q3_K(ReadOnlySpan<byte> b)
    {
        ReadOnlySpan<byte> hmask = b[..32], qs = b.Slice(32, 64), scales = b.Slice(96, 12);
        var block = new LogicalBlock { D = Half(b, 108), Codes = new int[256], Scales = new int[16] };
        for (int n = 0; n < 256; n++)
        {
            int h = n / 128, k = n % 128 / 32, l = n % 32;
            int low = (qs[32 * h + l] >> (2 * k)) & 3;
            int high = (hmask[l] >> (4 * h + k)) & 1;
            block.Codes[n] = low | (high << 2);
        }
        for (int g = 0; g < 16; g++)
        {
            int low4 = g < 8 ? scales[g] & 15 : scales[g - 8] >> 4;
            int top2 = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
            block.Scales[g] = low4 | (top2 << 4);
        }
        return block;
    }

    private static void ScaleMinK4(ReadOnlySpan<byte> s, LogicalBlock block)
    {
        block.Scales = new int[8];
        block.Mins = new int[8];
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                block.Scales[j] = s[j] & 63;
                block.Mins[j] = s[j + 4] & 63;
            }
            else
            {
                block.Scales[j] = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
                block.Mins[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
            }
        }
    }

    private static LogicalBlock Q4_K(ReadOnlySpan<byte> b)
    {
        var block = new LogicalBlock { D = Half(b, 0), Dmin = Half(b, 2), Codes = new int[256] };
        ScaleMinK4(b.Slice(4, 12), block);
        ReadOnlySpan<byte> qs = b.Slice(16, 128);
        for (int c = 0; c < 4; c++)
        {
            for (int l = 0; l < 32; l++)
            {
                block.Codes[64 * c + l] = qs[32 * c + l] & 15;
                block.Codes[64 * c + 32 + l] = qs[32 * c + l] >> 4;
            }
        }
        return block;
    }

    private static LogicalBlock Q5_K(ReadOnlySpan<byte> b)
    {
        var block = new LogicalBlock { D = Half(b, 0), Dmin = Half(b, 2), Codes = new int[256] };
        ScaleMinK4(b.Slice(4, 12), block);
        ReadOnlySpan<byte> qh = b.Slice(16, 32), qs = b.Slice(48, 128);
        for (int c = 0; c < 4; c++)
        {
            for (int l = 0; l < 32; l++)
            {
                block.Codes[64 * c + l] = (qs[32 * c + l] & 15) + 16 * ((qh[l] >> (2 * c)) & 1);
                block.Codes[64 * c + 32 + l] = (qs[32 * c + l] >> 4) + 16 * ((qh[l] >> (2 * c + 1)) & 1);
            }
        }
        return block;
    }

    private static LogicalBlock Q6_K(ReadOnlySpan<byte> b)
    {
        ReadOnlySpan<byte> ql = b[..128], qh = b.Slice(128, 64), scales = b.Slice(192, 16);
        var block = new LogicalBlock { D = Half(b, 208), Codes = new int[256], Scales = new int[16] };
        for (int n = 0; n < 256; n++)
        {
            int h = n / 128, k = n % 128 / 32, l = n % 32;
            byte lowByte = ql[64 * h + (k % 2 == 1 ? 32 : 0) + l];
            int low = k < 2 ? lowByte & 15 : lowByte >> 4;
            int high = (qh[32 * h + l] >> (2 * k)) & 3;
            block.Codes[n] = low | (high << 4);
        }
        for (int g = 0; g < 16; g++) block.Scales[g] = (sbyte)scales[g];
        return block;
    }

    private static LogicalBlock Q8_K(ReadOnlySpan<byte> b)
    {
        var block = new LogicalBlock { D = BinaryPrimitives.ReadSingleLittleEndian(b), Codes = new int[256] };
        for (int i = 0; i < 256; i++) block.Codes[i] = (sbyte)b[4 + i];
        return block;
    }

    /// <summary>q8_K's bsums (16 int16 at offset 260).</summary>
    public static int[] Q8_KBlockSums(ReadOnlySpan<byte> b)
    {
        var sums = new int[16];
        for (int g = 0; g < 16; g++) sums[g] = BinaryPrimitives.ReadInt16LittleEndian(b[(260 + 2 * g)..]);
        return sums;
    }

    private static LogicalBlock Iq4_Nl(ReadOnlySpan<byte> b) => new() { D = Half(b, 0), Codes = SplitNibbles(b.Slice(2, 16)) };

    private static LogicalBlock Iq4_Xs(ReadOnlySpan<byte> b)
    {
        int scalesH = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]);
        ReadOnlySpan<byte> scalesL = b.Slice(4, 4), qs = b.Slice(8, 128);
        var block = new LogicalBlock { D = Half(b, 0), Codes = new int[256], Scales = new int[8] };
        for (int i = 0; i < 8; i++)
        {
            block.Scales[i] = ((scalesL[i / 2] >> (4 * (i % 2))) & 15) | (((scalesH >> (2 * i)) & 3) << 4);
            for (int j = 0; j < 16; j++)
            {
                block.Codes[32 * i + j] = qs[16 * i + j] & 15;
                block.Codes[32 * i + 16 + j] = qs[16 * i + j] >> 4;
            }
        }
        return block;
    }
}
