using System;
using System.Runtime.CompilerServices;

namespace Quant.Numerics;

/// <summary>Small numeric pieces that quantization rules share, with ggml's exact semantics where ggml has them.</summary>
public static class QuantMath
{
    /// <summary>
    /// The element of largest magnitude, with its sign; the first one wins a tie (ggml's "max").
    /// Returns 0 for an all-zero block.
    /// </summary>
    public static float SignedMax(ReadOnlySpan<float> values, out float absMax)
    {
        float amax = 0f, max = 0f;
        foreach (float v in values)
        {
            float a = MathF.Abs(v);
            if (amax < a)
            {
                amax = a;
                max = v;
            }
        }
        absMax = amax;
        return max;
    }

    /// <summary>The largest magnitude (0 for an all-zero block). NaN elements are skipped, as ggml's comparisons skip them.</summary>
    public static float AbsMax(ReadOnlySpan<float> values)
    {
        float amax = 0f;
        foreach (float v in values)
        {
            float a = MathF.Abs(v);
            if (amax < a) amax = a;
        }
        return amax;
    }

    /// <summary>The smallest and largest element (both start at the first element, as ggml's q4_1 does).</summary>
    public static void MinMax(ReadOnlySpan<float> values, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        foreach (float v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
    }

    /// <summary>ggml's <c>nearest_int</c>: round half to even through the 1.5 * 2^23 trick (valid for |x| &lt; 2^22).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float value)
    {
        float biased = value + 12582912f;
        return (int)(BitConverter.SingleToUInt32Bits(biased) & 0x007FFFFF) - 0x00400000;
    }

    /// <summary>C's <c>roundf</c>: round half away from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundHalfAway(float value) => MathF.Round(value, MidpointRounding.AwayFromZero);

    /// <summary><c>floorf(log2f(x))</c> as C computes it (the rounded log2, then the floor), for the MX shared exponents.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int FloorLog2(float value) => (int)MathF.Floor(MathF.Log2(value));

    /// <summary>
    /// The index of the codebook entry nearest to <paramref name="value"/>, comparing
    /// <c>|entry * scale - value|</c> in float32; the lowest index wins a tie (ggml's best_index_mxfp4).
    /// </summary>
    public static int NearestIndex(ReadOnlySpan<float> codebook, float scale, float value)
    {
        int best = 0;
        float bestError = MathF.Abs(codebook[0] * scale - value);
        for (int i = 1; i < codebook.Length; i++)
        {
            float error = MathF.Abs(codebook[i] * scale - value);
            if (error < bestError)
            {
                best = i;
                bestError = error;
            }
        }
        return best;
    }

    /// <summary>
    /// The index of the first midpoint above <paramref name="magnitude"/> (so a tie goes to the larger
    /// magnitude), or the count of midpoints when none is: mistral.rs' MXFP4 rounding. NaN gives the largest.
    /// </summary>
    public static int MagnitudeIndexTiesUp(float magnitude, ReadOnlySpan<float> midpoints)
    {
        for (int i = 0; i < midpoints.Length; i++)
        {
            if (magnitude < midpoints[i]) return i;
        }
        return midpoints.Length;
    }

    /// <summary>
    /// Error-minimising shared exponent: tries <paramref name="center"/> - 1, itself and + 1 (within 0 to
    /// 254) and keeps the one whose nearest-code reconstruction has the least squared error; a tie keeps
    /// <paramref name="center"/>. Writes the codes of the winner into <paramref name="codes"/>.
    /// </summary>
    /// <param name="block">The block's values.</param>
    /// <param name="table">The value of each code, scaled by 2^-<paramref name="log2Factor"/>.</param>
    /// <param name="log2Factor">The power of two folded into the E8M0 scale.</param>
    /// <param name="center">The default rule's exponent.</param>
    /// <param name="codes">Receives the codes.</param>
    /// <returns>The chosen E8M0 exponent.</returns>
    public static byte SearchSharedExponent(ReadOnlySpan<float> block, ReadOnlySpan<float> table, int log2Factor, int center, Span<byte> codes)
    {
        Span<byte> trial = stackalloc byte[codes.Length];
        int best = Math.Clamp(center, 0, 254);
        double bestError = SharedExponentError(block, table, E8M0.ToSingle((byte)best, log2Factor), codes);
        for (int e = best - 1; e <= best + 1; e += 2)
        {
            if (e < 0 || e > 254) continue;
            double error = SharedExponentError(block, table, E8M0.ToSingle((byte)e, log2Factor), trial);
            if (error < bestError)
            {
                bestError = error;
                best = e;
                trial.CopyTo(codes);
            }
        }
        return (byte)best;
    }

    private static double SharedExponentError(ReadOnlySpan<float> block, ReadOnlySpan<float> table, float scale, Span<byte> codes)
    {
        double error = 0;
        for (int i = 0; i < block.Length; i++)
        {
            int code = NearestIndex(table, scale, block[i]);
            codes[i] = (byte)code;
            double difference = (double)(table[code] * scale) - block[i];
            error += difference * difference;
        }
        return error;
    }

    /// <summary>
    /// Error-minimising shared exponent for round-to-nearest-even minifloat elements (OCP MX): tries
    /// <paramref name="center"/> - 1, itself and + 1 (within 0 to 254) and keeps the least squared error;
    /// a tie keeps <paramref name="center"/>. Writes the codes of the winner into <paramref name="codes"/>.
    /// </summary>
    public static byte SearchSharedExponent<TSpec>(ReadOnlySpan<float> block, int center, Span<byte> codes) where TSpec : struct, IMinifloatSpec
    {
        Span<byte> trial = stackalloc byte[codes.Length];
        int best = Math.Clamp(center, 0, 254);
        double bestError = SharedExponentErrorRne<TSpec>(block, best, codes);
        for (int e = best - 1; e <= best + 1; e += 2)
        {
            if (e < 0 || e > 254) continue;
            double error = SharedExponentErrorRne<TSpec>(block, e, trial);
            if (error < bestError)
            {
                bestError = error;
                best = e;
                trial.CopyTo(codes);
            }
        }
        return (byte)best;
    }

    private static double SharedExponentErrorRne<TSpec>(ReadOnlySpan<float> block, int exponent, Span<byte> codes) where TSpec : struct, IMinifloatSpec
    {
        float inverse = E8M0.ToSingle((byte)(254 - exponent)), scale = E8M0.ToSingle((byte)exponent);
        double error = 0;
        for (int i = 0; i < block.Length; i++)
        {
            int code = Minifloat.Encode<TSpec>(block[i] * inverse, MinifloatOverflow.Saturate);
            codes[i] = (byte)code;
            double difference = (double)Minifloat.Decode<TSpec>(code) * scale - block[i];
            error += difference * difference;
        }
        return error;
    }

    /// <summary>
    /// The code of the table value nearest to <paramref name="value"/>, given the midpoints between the
    /// table's distinct values in ascending order and the code of each value: a value on a midpoint goes
    /// to the lower one (bitsandbytes' quantization trees compare with <c>x &gt; threshold</c>).
    /// </summary>
    public static int NearestByMidpoints(float value, ReadOnlySpan<float> midpoints, ReadOnlySpan<byte> codes)
    {
        int low = 0, high = midpoints.Length;
        while (low < high)
        {
            int middle = (low + high) >>> 1;
            if (value > midpoints[middle]) low = middle + 1;
            else high = middle;
        }
        return codes[low];
    }

    /// <summary>
    /// The code of a sign-magnitude table (upper half = lower half negated) nearest to <paramref name="value"/>:
    /// the magnitude by <see cref="NearestByMidpoints"/>, the sign bit <paramref name="signBit"/> for a negative value.
    /// </summary>
    public static int NearestSignMagnitude(float value, ReadOnlySpan<float> midpoints, ReadOnlySpan<byte> codes, int signBit)
    {
        int magnitude = NearestByMidpoints(MathF.Abs(value), midpoints, codes);
        return value < 0f ? magnitude | signBit : magnitude;
    }
}
