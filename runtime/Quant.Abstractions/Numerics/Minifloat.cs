using System;
using System.Runtime.CompilerServices;

namespace Quant.Numerics;

/// <summary>
/// A minifloat layout as constants, so that kernels written once are specialised per layout: a sign
/// bit, <see cref="ExponentBits"/> exponent bits with <see cref="Bias"/>, <see cref="MantissaBits"/>
/// mantissa bits, and which codes are special. Generated code implements it on a private struct.
/// </summary>
public interface IMinifloatSpec
{
    /// <summary>Exponent bits.</summary>
    static abstract int ExponentBits { get; }

    /// <summary>Mantissa bits.</summary>
    static abstract int MantissaBits { get; }

    /// <summary>Exponent bias.</summary>
    static abstract int Bias { get; }

    /// <summary>Which codes are infinities or NaN.</summary>
    static abstract MinifloatSpecials Specials { get; }
}

/// <summary>What a float that is too large for a minifloat becomes.</summary>
public enum MinifloatOverflow
{
    /// <summary>The largest finite value of the same sign (the OCP MX conversions; FP8 "saturating" mode).</summary>
    Saturate,
    /// <summary>Infinity, or NaN for layouts without infinities (IEEE; the OCP FP8 non-saturating mode).</summary>
    Infinity,
}

/// <summary>Exact conversions between float32 and any minifloat of up to 16 bits: decoding, and encoding with round-to-nearest-even.</summary>
public static class Minifloat
{
    /// <summary>Decodes <paramref name="code"/> exactly (subnormals, infinities and NaN as the layout says).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Decode<TSpec>(int code) where TSpec : struct, IMinifloatSpec
        => Decode(code, TSpec.ExponentBits, TSpec.MantissaBits, TSpec.Bias, TSpec.Specials);

    /// <summary>Decodes <paramref name="code"/> exactly.</summary>
    public static float Decode(int code, int exponentBits, int mantissaBits, int bias, MinifloatSpecials specials)
    {
        int magnitudeBits = exponentBits + mantissaBits;
        bool negative = ((code >> magnitudeBits) & 1) != 0;
        int exponent = (code >> mantissaBits) & ((1 << exponentBits) - 1);
        int mantissa = code & ((1 << mantissaBits) - 1);
        int maxExponent = (1 << exponentBits) - 1;
        float value;
        if (specials == MinifloatSpecials.Ieee && exponent == maxExponent)
        {
            value = mantissa == 0 ? float.PositiveInfinity : QuietNaN;
        }
        else if (specials == MinifloatSpecials.NanOnly && exponent == maxExponent && mantissa == (1 << mantissaBits) - 1)
        {
            value = QuietNaN;
        }
        else if (exponent == 0)
        {
            value = mantissa * Pow2(1 - bias - mantissaBits);
        }
        else
        {
            value = (float)(((1 << mantissaBits) + mantissa) * (double)Pow2(exponent - bias - mantissaBits));
        }
        return negative ? -value : value;
    }

    /// <summary>
    /// Encodes <paramref name="value"/> with round-to-nearest-even. A value beyond the largest finite one
    /// saturates or becomes infinity (NaN where the layout has no infinity) as <paramref name="overflow"/>
    /// says; NaN becomes the layout's NaN (or, without one, the largest finite value with saturation).
    /// </summary>
    public static int Encode<TSpec>(float value, MinifloatOverflow overflow) where TSpec : struct, IMinifloatSpec
        => Encode(value, TSpec.ExponentBits, TSpec.MantissaBits, TSpec.Bias, TSpec.Specials, overflow);

    /// <summary>Encodes <paramref name="value"/> with round-to-nearest-even (see the generic overload).</summary>
    public static int Encode(float value, int exponentBits, int mantissaBits, int bias, MinifloatSpecials specials, MinifloatOverflow overflow)
    {
        int magnitudeBits = exponentBits + mantissaBits;
        int signBit = 1 << magnitudeBits;
        int sign = BitConverter.SingleToInt32Bits(value) < 0 ? signBit : 0;
        int maxFinite = MaxFiniteCode(exponentBits, mantissaBits, specials);
        int nan = NanCode(exponentBits, mantissaBits, specials);
        if (float.IsNaN(value)) return nan >= 0 ? sign | nan : sign | maxFinite;
        double magnitude = Math.Abs((double)value);
        double largest = Decode(maxFinite, exponentBits, mantissaBits, bias, specials);
        int infinity = specials == MinifloatSpecials.Ieee ? ((1 << exponentBits) - 1) << mantissaBits : -1;
        double result = double.PositiveInfinity;
        if (!double.IsInfinity(magnitude))
        {
            // Round at the spacing of codes in the magnitude's binade (subnormals share the smallest normal's spacing).
            int exponent = Math.Max(1 - bias, Binade(magnitude));
            double quantum = Math.Pow(2, exponent - mantissaBits);
            double steps = magnitude / quantum;                     // exact: a power-of-two division
            double floor = Math.Floor(steps);
            double rounded = steps - floor > 0.5 || (steps - floor == 0.5 && floor % 2 != 0) ? floor + 1 : floor;
            result = rounded * quantum;
        }
        if (result > largest)
        {
            // Beyond the largest finite value (IEEE rounding reaches infinity only past the midpoint above it).
            if (overflow == MinifloatOverflow.Saturate) return sign | maxFinite;
            if (infinity >= 0) return sign | infinity;
            return nan >= 0 ? sign | nan : sign | maxFinite;
        }
        return sign | CodeOfMagnitude(result, exponentBits, mantissaBits, bias);
    }

    /// <summary>The code of the largest finite positive value.</summary>
    public static int MaxFiniteCode(int exponentBits, int mantissaBits, MinifloatSpecials specials) => specials switch
    {
        MinifloatSpecials.Ieee => (((1 << exponentBits) - 2) << mantissaBits) | ((1 << mantissaBits) - 1),
        MinifloatSpecials.NanOnly => (1 << (exponentBits + mantissaBits)) - 2,
        _ => (1 << (exponentBits + mantissaBits)) - 1,
    };

    /// <summary>The code of the positive NaN, or -1 when the layout has none.</summary>
    public static int NanCode(int exponentBits, int mantissaBits, MinifloatSpecials specials) => specials switch
    {
        MinifloatSpecials.Ieee => (((1 << exponentBits) - 1) << mantissaBits) | (1 << (mantissaBits - 1 < 0 ? 0 : mantissaBits - 1)),
        MinifloatSpecials.NanOnly => (1 << (exponentBits + mantissaBits)) - 1,
        _ => -1,
    };

    private static int CodeOfMagnitude(double magnitude, int exponentBits, int mantissaBits, int bias)
    {
        if (magnitude == 0) return 0;
        int exponent = Binade(magnitude);
        if (exponent < 1 - bias)
        {
            return (int)(magnitude / Math.Pow(2, 1 - bias - mantissaBits));
        }
        int mantissa = (int)((magnitude / Math.Pow(2, exponent) - 1) * (1 << mantissaBits));
        return ((exponent + bias) << mantissaBits) | mantissa;
    }

    /// <summary>floor(log2(x)) for a positive finite x, exactly (Log2 alone can be off by one next to powers of two).</summary>
    private static int Binade(double magnitude)
    {
        if (magnitude == 0) return int.MinValue / 2;
        int exponent = (int)Math.Floor(Math.Log2(magnitude));
        if (Math.Pow(2, exponent) > magnitude) exponent--;
        if (Math.Pow(2, exponent + 1) <= magnitude) exponent++;
        return exponent;
    }

    private static float Pow2(int exponent) => (float)Math.Pow(2, exponent);

    /// <summary>The positive quiet NaN every decoder here produces (bits 0x7FC00000), so scalar and SIMD paths agree bit for bit.</summary>
    public static float QuietNaN => BitConverter.Int32BitsToSingle(0x7FC00000);
}
