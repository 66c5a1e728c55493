using System;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// ggml's reference quantizers and dequantizers for q4_0, q8_0 and mxfp4, written here from the layout
/// and rounding rules in tests/data/peer-vectors/README.md (sections 2 and 3), in float32 with one
/// rounding per operation as ggml's portable C does. <see cref="GgmlReferenceTests"/> first proves this
/// code against ggml's files, then uses it on data ggml never saw.
/// </summary>
internal static class GgmlReference
{
    /// <summary>ggml's doubled E2M1 table, indexed by the whole nibble (integers: code 8 is +0).</summary>
    public static readonly int[] Mxfp4Table = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

    public static float HalfToFloat(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    public static ushort FloatToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value); // round to nearest even

    private static ushort ReadU16(ReadOnlySpan<byte> b, int at) => (ushort)(b[at] | (b[at + 1] << 8));

    private static void WriteU16(Span<byte> b, int at, ushort v)
    {
        b[at] = (byte)v;
        b[at + 1] = (byte)(v >> 8);
    }

    /// <summary>C's roundf: half away from zero (the difference x - trunc(x) is exact in float32).</summary>
    public static float RoundF(float x)
    {
        float t = MathF.Truncate(x);
        return MathF.Abs(x - t) >= 0.5f ? t + MathF.CopySign(1f, x) : t;
    }

    // ---- q4_0: d (f16) at 0, qs[16] at 2; value j low nibble of qs[j], value j + 16 high nibble.

    public static void Q4_0QuantizeBlock(ReadOnlySpan<float> x, Span<byte> record)
    {
        float amax = 0f, max = 0f;
        for (int j = 0; j < 32; j++)
        {
            if (amax < MathF.Abs(x[j]))
            {
                amax = MathF.Abs(x[j]);
                max = x[j];
            }
        }
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        WriteU16(record, 0, FloatToHalf(d));
        for (int j = 0; j < 16; j++)
        {
            float x0 = x[j] * id;
            float x1 = x[j + 16] * id;
            int q0 = Math.Min(15, (int)(sbyte)(int)(x0 + 8.5f));
            int q1 = Math.Min(15, (int)(sbyte)(int)(x1 + 8.5f));
            record[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    public static void Q4_0DequantizeBlock(ReadOnlySpan<byte> record, Span<float> y)
    {
        float d = HalfToFloat(ReadU16(record, 0));
        for (int j = 0; j < 16; j++)
        {
            y[j] = ((record[2 + j] & 15) - 8) * d;
            y[j + 16] = ((record[2 + j] >> 4) - 8) * d;
        }
    }

    // ---- q8_0: d (f16) at 0, then 32 int8.

    public static void Q8_0QuantizeBlock(ReadOnlySpan<float> x, Span<byte> record)
    {
        float amax = 0f;
        for (int j = 0; j < 32; j++)
        {
            float a = MathF.Abs(x[j]);
            amax = amax > a ? amax : a; // ggml's MAX macro
        }
        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        WriteU16(record, 0, FloatToHalf(d));
        for (int j = 0; j < 32; j++) record[2 + j] = (byte)(sbyte)RoundF(x[j] * id);
    }

    public static void Q8_0DequantizeBlock(ReadOnlySpan<byte> record, Span<float> y)
    {
        float d = HalfToFloat(ReadU16(record, 0));
        for (int j = 0; j < 32; j++) y[j] = (sbyte)record[2 + j] * d;
    }

    // ---- mxfp4: e (E8M0) at 0, qs[16] at 1, nibbles as q4_0.

    /// <summary>ggml's half scale 2^(e - 128) from its bit patterns: 0x00200000 &lt;&lt; e for e &lt; 2, (e - 1) &lt;&lt; 23 otherwise.</summary>
    public static float Mxfp4HalfScale(int e)
        => BitConverter.UInt32BitsToSingle(e < 2 ? 0x00200000u << e : (uint)(e - 1) << 23);

    /// <summary>best_index_mxfp4: the nibble whose table value times d is nearest to x in float32, lowest nibble on a tie.</summary>
    public static int Mxfp4BestIndex(float x, float d)
    {
        int best = 0;
        float bestError = MathF.Abs(Mxfp4Table[0] * d - x);
        for (int i = 1; i < 16; i++)
        {
            float error = MathF.Abs(Mxfp4Table[i] * d - x);
            if (error < bestError)
            {
                best = i;
                bestError = error;
            }
        }
        return best;
    }

    /// <summary>ggml's exponent: (uint8_t)(floorf(log2f(amax)) - 2 + 127), 0 for amax = 0. The C cast of a negative value wraps on x86.</summary>
    public static byte Mxfp4Exponent(float amax)
        => amax > 0f ? unchecked((byte)(int)(MathF.Floor(MathF.Log2(amax)) - 2f + 127f)) : (byte)0;

    public static void Mxfp4QuantizeBlock(ReadOnlySpan<float> x, Span<byte> record)
    {
        float amax = 0f;
        for (int j = 0; j < 32; j++)
        {
            if (amax < MathF.Abs(x[j])) amax = MathF.Abs(x[j]);
        }
        byte e = Mxfp4Exponent(amax);
        float d = Mxfp4HalfScale(e);
        record[0] = e;
        for (int j = 0; j < 16; j++)
        {
            record[1 + j] = (byte)(Mxfp4BestIndex(x[j], d) | (Mxfp4BestIndex(x[j + 16], d) << 4));
        }
    }

    public static void Mxfp4DequantizeBlock(ReadOnlySpan<byte> record, Span<float> y)
    {
        float d = Mxfp4HalfScale(record[0]);
        for (int j = 0; j < 16; j++)
        {
            y[j] = Mxfp4Table[record[1 + j] & 15] * d;
            y[j + 16] = Mxfp4Table[record[1 + j] >> 4] * d;
        }
    }

    /// <summary>The squared error (float64, exact products) of coding <paramref name="x"/> with exponent e and nearest codes.</summary>
    public static double Mxfp4BlockError(ReadOnlySpan<float> x, int e)
    {
        float d = Mxfp4HalfScale(e);
        double sum = 0;
        for (int j = 0; j < x.Length; j++)
        {
            double diff = (double)Mxfp4Table[Mxfp4BestIndex(x[j], d)] * d - x[j];
            sum += diff * diff;
        }
        return sum;
    }

    public delegate void BlockCodec(ReadOnlySpan<byte> record, Span<float> y);

    public delegate void BlockQuantizer(ReadOnlySpan<float> x, Span<byte> record);

    /// <summary>Applies a block quantizer to a whole row-major matrix (rows back to back, no padding).</summary>
    public static byte[] QuantizeAll(BlockQuantizer quantize, ReadOnlySpan<float> x, int recordSize)
    {
        var bytes = new byte[x.Length / 32 * recordSize];
        for (int b = 0; b < x.Length / 32; b++) quantize(x.Slice(b * 32, 32), bytes.AsSpan(b * recordSize, recordSize));
        return bytes;
    }

    public static float[] DequantizeAll(BlockCodec dequantize, ReadOnlySpan<byte> bytes, int recordSize)
    {
        var y = new float[bytes.Length / recordSize * 32];
        for (int b = 0; b < bytes.Length / recordSize; b++) dequantize(bytes.Slice(b * recordSize, recordSize), y.AsSpan(b * 32, 32));
        return y;
    }
}
