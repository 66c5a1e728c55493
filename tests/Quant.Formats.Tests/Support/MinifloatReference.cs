using System;
using System.Collections.Generic;
using Quant.Numerics;

namespace Quant.Formats.Tests.Support;

/// <summary>
/// A minifloat layout and its float64 reference, written from the specs rather than from the library:
/// OCP Microscaling Formats (MX) 1.0 section 5.3 for E2M1, E2M3 and E3M2 (no infinities, no NaN), the OCP
/// 8-bit Floating Point spec (OFP8) for E4M3 (bias 7, no infinities, S.1111.111 the only NaN, max 448) and
/// E5M2 (bias 15, IEEE specials, max 57344), and IEEE 754 for binary16 and bfloat16.
/// </summary>
/// <remarks>
/// The encoder here does not compute a code arithmetically, as the library does: it searches the table
/// of every finite value for the nearest one and breaks ties by the parity of the code (round to nearest,
/// ties to even), so the two implementations share no logic.
/// </remarks>
internal sealed class MinifloatLayout
{
    private readonly double[] _magnitudes; // value of each non-negative finite code 0 .. MaxFiniteCode, ascending

    public MinifloatLayout(string name, int exponentBits, int mantissaBits, int bias, MinifloatSpecials specials)
    {
        Name = name;
        ExponentBits = exponentBits;
        MantissaBits = mantissaBits;
        Bias = bias;
        Specials = specials;
        int maxFinite = 0;
        for (int code = 0; code < SignBit; code++)
        {
            if (double.IsFinite(Value(code))) maxFinite = code;
        }
        MaxFiniteCode = maxFinite;
        _magnitudes = new double[maxFinite + 1];
        for (int code = 0; code <= maxFinite; code++) _magnitudes[code] = Value(code);
    }

    public string Name { get; }
    public int ExponentBits { get; }
    public int MantissaBits { get; }
    public int Bias { get; }
    public MinifloatSpecials Specials { get; }

    public int Bits => 1 + ExponentBits + MantissaBits;
    public int CodeCount => 1 << Bits;
    public int SignBit => 1 << (ExponentBits + MantissaBits);
    public int MaxFiniteCode { get; }
    public double MaxFinite => Value(MaxFiniteCode);

    /// <summary>
    /// The spacing of codes in the top binade: the value the code after <see cref="MaxFiniteCode"/> would
    /// have if it were finite is <c>MaxFinite + TopGap</c>; the overflow threshold sits half of it above.
    /// </summary>
    public double TopGap => Value(MaxFiniteCode) - Value(MaxFiniteCode - 1);

    /// <summary>The positive NaN code the library writes for NaN (OFP8 E4M3: S.1111.111; IEEE: the quiet NaN), or null.</summary>
    public int? NanCode => Specials switch
    {
        MinifloatSpecials.NanOnly => SignBit - 1,
        MinifloatSpecials.Ieee => (((1 << ExponentBits) - 1) << MantissaBits) | (1 << (MantissaBits - 1)),
        _ => null,
    };

    /// <summary>The positive infinity code, or null for layouts without infinities.</summary>
    public int? InfinityCode => Specials == MinifloatSpecials.Ieee ? ((1 << ExponentBits) - 1) << MantissaBits : null;

    /// <summary>The value of <paramref name="code"/> in float64, from the field definitions: NaN for NaN codes.</summary>
    public double Value(int code)
    {
        bool negative = (code & SignBit) != 0;
        int exponent = (code >> MantissaBits) & ((1 << ExponentBits) - 1);
        int mantissa = code & ((1 << MantissaBits) - 1);
        int allOnes = (1 << ExponentBits) - 1;
        double magnitude;
        if (Specials == MinifloatSpecials.Ieee && exponent == allOnes)
        {
            magnitude = mantissa == 0 ? double.PositiveInfinity : double.NaN;
        }
        else if (Specials == MinifloatSpecials.NanOnly && exponent == allOnes && mantissa == (1 << MantissaBits) - 1)
        {
            magnitude = double.NaN;
        }
        else if (exponent == 0)
        {
            // Subnormal: 0.mantissa x 2^(1 - bias).
            magnitude = Math.ScaleB(mantissa / (double)(1 << MantissaBits), 1 - Bias);
        }
        else
        {
            magnitude = Math.ScaleB(1 + mantissa / (double)(1 << MantissaBits), exponent - Bias);
        }
        return negative ? -magnitude : magnitude;
    }

    public bool IsNaN(int code) => double.IsNaN(Value(code));

    /// <summary>
    /// The float32 the library must decode <paramref name="code"/> to: the exact value (signed zeros kept),
    /// infinities, and NaN as the quiet 0x7FC00000 with the code's sign.
    /// </summary>
    public float Expected(int code)
    {
        double value = Value(code);
        if (double.IsNaN(value)) return BitConverter.UInt32BitsToSingle(0x7FC00000u | ((code & SignBit) != 0 ? 0x80000000u : 0u));
        float single = (float)value;
        if (single != value) throw new InvalidOperationException($"{Name} code {code} is not a float32 ({value:R}).");
        return single;
    }

    /// <summary>
    /// Round to nearest, ties to the even code, by searching the table of finite values. Above the largest
    /// finite value: <paramref name="overflow"/> = Saturate clamps (OCP MX conversion, FP8 "satfinite");
    /// Infinity rounds as IEEE does (to infinity from the midpoint above the largest value on, NaN for a
    /// layout without infinity, the largest value for a layout with neither). NaN becomes the NaN code with
    /// the input's sign (the largest value for a layout without NaN: OCP MX leaves that case to the implementation).
    /// </summary>
    public int Encode(double x, MinifloatOverflow overflow)
    {
        int sign = double.IsNegative(x) ? SignBit : 0;
        if (double.IsNaN(x)) return sign | (NanCode ?? MaxFiniteCode);
        double magnitude = Math.Abs(x);
        if (magnitude > MaxFinite)
        {
            if (overflow == MinifloatOverflow.Saturate) return sign | MaxFiniteCode;
            double threshold = MaxFinite + TopGap / 2;
            bool roundsUp = magnitude > threshold || (magnitude == threshold && (MaxFiniteCode & 1) != 0);
            if (!roundsUp) return sign | MaxFiniteCode;
            return sign | (InfinityCode ?? NanCode ?? MaxFiniteCode);
        }
        int index = Array.BinarySearch(_magnitudes, magnitude);
        if (index >= 0) return sign | index;
        int above = ~index, below = above - 1;
        double toBelow = magnitude - _magnitudes[below], toAbove = _magnitudes[above] - magnitude;
        int code = toBelow < toAbove ? below : toAbove < toBelow ? above : (below & 1) == 0 ? below : above;
        return sign | code;
    }

    /// <summary>The positive finite codes in ascending order of value (code 0 = +0 first).</summary>
    public IEnumerable<int> PositiveFiniteCodes()
    {
        for (int code = 0; code <= MaxFiniteCode; code++) yield return code;
    }

    public override string ToString() => Name;

    // ---- the layouts the library uses

    public static readonly MinifloatLayout E2M1 = new("E2M1", 2, 1, 1, MinifloatSpecials.None);
    public static readonly MinifloatLayout E2M3 = new("E2M3", 2, 3, 1, MinifloatSpecials.None);
    public static readonly MinifloatLayout E3M2 = new("E3M2", 3, 2, 3, MinifloatSpecials.None);
    public static readonly MinifloatLayout E4M3 = new("E4M3", 4, 3, 7, MinifloatSpecials.NanOnly);
    public static readonly MinifloatLayout E5M2 = new("E5M2", 5, 2, 15, MinifloatSpecials.Ieee);
    public static readonly MinifloatLayout Binary16 = new("E5M10", 5, 10, 15, MinifloatSpecials.Ieee);
    public static readonly MinifloatLayout BFloat16 = new("E8M7", 8, 7, 127, MinifloatSpecials.Ieee);

    public static readonly MinifloatLayout[] All = [E2M1, E2M3, E3M2, E4M3, E5M2, Binary16, BFloat16];

    public static MinifloatLayout Get(string name) => Array.Find(All, l => l.Name == name)
        ?? throw new ArgumentException($"No minifloat layout '{name}'.", nameof(name));
}

/// <summary>The layouts as <see cref="IMinifloatSpec"/> structs, for the library's generic decoders and encoders.</summary>
internal readonly struct E2M1Spec : IMinifloatSpec
{
    public static int ExponentBits => 2;
    public static int MantissaBits => 1;
    public static int Bias => 1;
    public static MinifloatSpecials Specials => MinifloatSpecials.None;
}

internal readonly struct E2M3Spec : IMinifloatSpec
{
    public static int ExponentBits => 2;
    public static int MantissaBits => 3;
    public static int Bias => 1;
    public static MinifloatSpecials Specials => MinifloatSpecials.None;
}

internal readonly struct E3M2Spec : IMinifloatSpec
{
    public static int ExponentBits => 3;
    public static int MantissaBits => 2;
    public static int Bias => 3;
    public static MinifloatSpecials Specials => MinifloatSpecials.None;
}

internal readonly struct E5M2Spec : IMinifloatSpec
{
    public static int ExponentBits => 5;
    public static int MantissaBits => 2;
    public static int Bias => 15;
    public static MinifloatSpecials Specials => MinifloatSpecials.Ieee;
}

internal readonly struct Binary16Spec : IMinifloatSpec
{
    public static int ExponentBits => 5;
    public static int MantissaBits => 10;
    public static int Bias => 15;
    public static MinifloatSpecials Specials => MinifloatSpecials.Ieee;
}

internal readonly struct BFloat16Spec : IMinifloatSpec
{
    public static int ExponentBits => 8;
    public static int MantissaBits => 7;
    public static int Bias => 127;
    public static MinifloatSpecials Specials => MinifloatSpecials.Ieee;
}
