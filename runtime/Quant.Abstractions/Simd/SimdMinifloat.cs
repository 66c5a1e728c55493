using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Quant.Numerics;

namespace Quant.Simd;

/// <summary>
/// Decodes minifloat codes held in 32-bit lanes to floats, exactly, with integer vector arithmetic:
/// normals by moving the exponent and mantissa into place and rebiasing, subnormals as
/// <c>mantissa * 2^(1 - bias - m)</c>, specials as the layout says (NaN is always 0x7FC00000 with the
/// code's sign, like <see cref="Minifloat.Decode{TSpec}"/>). One routine per vector width.
/// </summary>
public static class SimdMinifloat
{
    /// <summary>Decodes 16 codes in a 512-bit vector of ints.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Decode<TSpec>(Vector512<int> codes) where TSpec : struct, IMinifloatSpec
    {
        int m = TSpec.MantissaBits, e = TSpec.ExponentBits;
        Vector512<int> magnitude = codes & Vector512.Create((1 << (e + m)) - 1);
        Vector512<int> exponent = Vector512.ShiftRightLogical(magnitude, m);
        Vector512<int> normal = Vector512.ShiftLeft(magnitude, 23 - m) + Vector512.Create((127 - TSpec.Bias) << 23);
        Vector512<float> subnormal = Vector512.ConvertToSingle(magnitude) * Vector512.Create(SubnormalQuantum<TSpec>());
        Vector512<float> value = Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512<int>.Zero).AsSingle(), subnormal, normal.AsSingle());
        if (TSpec.Specials == MinifloatSpecials.Ieee)
        {
            Vector512<int> special = Vector512.Create(0x7F800000) | (Vector512.Min(magnitude & Vector512.Create((1 << m) - 1), Vector512<int>.One) << 22);
            value = Vector512.ConditionalSelect(Vector512.Equals(exponent, Vector512.Create((1 << e) - 1)).AsSingle(), special.AsSingle(), value);
        }
        else if (TSpec.Specials == MinifloatSpecials.NanOnly)
        {
            value = Vector512.ConditionalSelect(Vector512.Equals(magnitude, Vector512.Create((1 << (e + m)) - 1)).AsSingle(), Vector512.Create(0x7FC00000).AsSingle(), value);
        }
        return (value.AsInt32() | Vector512.ShiftLeft(Vector512.ShiftRightLogical(codes, e + m) & Vector512<int>.One, 31)).AsSingle();
    }

    /// <summary>Decodes 8 codes in a 256-bit vector of ints.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Decode<TSpec>(Vector256<int> codes) where TSpec : struct, IMinifloatSpec
    {
        int m = TSpec.MantissaBits, e = TSpec.ExponentBits;
        Vector256<int> magnitude = codes & Vector256.Create((1 << (e + m)) - 1);
        Vector256<int> exponent = Vector256.ShiftRightLogical(magnitude, m);
        Vector256<int> normal = Vector256.ShiftLeft(magnitude, 23 - m) + Vector256.Create((127 - TSpec.Bias) << 23);
        Vector256<float> subnormal = Vector256.ConvertToSingle(magnitude) * Vector256.Create(SubnormalQuantum<TSpec>());
        Vector256<float> value = Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256<int>.Zero).AsSingle(), subnormal, normal.AsSingle());
        if (TSpec.Specials == MinifloatSpecials.Ieee)
        {
            Vector256<int> special = Vector256.Create(0x7F800000) | (Vector256.Min(magnitude & Vector256.Create((1 << m) - 1), Vector256<int>.One) << 22);
            value = Vector256.ConditionalSelect(Vector256.Equals(exponent, Vector256.Create((1 << e) - 1)).AsSingle(), special.AsSingle(), value);
        }
        else if (TSpec.Specials == MinifloatSpecials.NanOnly)
        {
            value = Vector256.ConditionalSelect(Vector256.Equals(magnitude, Vector256.Create((1 << (e + m)) - 1)).AsSingle(), Vector256.Create(0x7FC00000).AsSingle(), value);
        }
        return (value.AsInt32() | Vector256.ShiftLeft(Vector256.ShiftRightLogical(codes, e + m) & Vector256<int>.One, 31)).AsSingle();
    }

    /// <summary>Decodes 4 codes in a 128-bit vector of ints.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Decode<TSpec>(Vector128<int> codes) where TSpec : struct, IMinifloatSpec
    {
        int m = TSpec.MantissaBits, e = TSpec.ExponentBits;
        Vector128<int> magnitude = codes & Vector128.Create((1 << (e + m)) - 1);
        Vector128<int> exponent = Vector128.ShiftRightLogical(magnitude, m);
        Vector128<int> normal = Vector128.ShiftLeft(magnitude, 23 - m) + Vector128.Create((127 - TSpec.Bias) << 23);
        Vector128<float> subnormal = Vector128.ConvertToSingle(magnitude) * Vector128.Create(SubnormalQuantum<TSpec>());
        Vector128<float> value = Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128<int>.Zero).AsSingle(), subnormal, normal.AsSingle());
        if (TSpec.Specials == MinifloatSpecials.Ieee)
        {
            Vector128<int> special = Vector128.Create(0x7F800000) | (Vector128.Min(magnitude & Vector128.Create((1 << m) - 1), Vector128<int>.One) << 22);
            value = Vector128.ConditionalSelect(Vector128.Equals(exponent, Vector128.Create((1 << e) - 1)).AsSingle(), special.AsSingle(), value);
        }
        else if (TSpec.Specials == MinifloatSpecials.NanOnly)
        {
            value = Vector128.ConditionalSelect(Vector128.Equals(magnitude, Vector128.Create((1 << (e + m)) - 1)).AsSingle(), Vector128.Create(0x7FC00000).AsSingle(), value);
        }
        return (value.AsInt32() | Vector128.ShiftLeft(Vector128.ShiftRightLogical(codes, e + m) & Vector128<int>.One, 31)).AsSingle();
    }

    // 2^(1 - bias - m): the value of mantissa 1 at the subnormal exponent.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SubnormalQuantum<TSpec>() where TSpec : struct, IMinifloatSpec
        => E8M0.ToSingle(127, 1 - TSpec.Bias - TSpec.MantissaBits);
}
