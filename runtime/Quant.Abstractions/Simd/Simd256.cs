using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quant.Simd;

/// <summary>
/// 256-bit float arithmetic on 16-element chunks of codes (two <see cref="Vector256{T}"/> of floats per
/// chunk). <c>Dot*</c> helpers may fuse; <c>Store*</c> helpers never do (bit-exact dequantization).
/// </summary>
public static class Simd256
{
    /// <summary>Converts 16 signed bytes to two vectors of floats, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToSingle(Vector128<sbyte> values, out Vector256<float> low, out Vector256<float> high)
    {
        if (Avx2.IsSupported)
        {
            low = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(values));
            high = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(values, 8)));
            return;
        }
        Vector128<short> l = Vector128.WidenLower(values), h = Vector128.WidenUpper(values);
        low = Vector256.ConvertToSingle(Vector256.Create(Vector128.WidenLower(l), Vector128.WidenUpper(l)));
        high = Vector256.ConvertToSingle(Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h)));
    }

    /// <summary>Converts 16 unsigned bytes to two vectors of floats, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToSingle(Vector128<byte> values, out Vector256<float> low, out Vector256<float> high)
    {
        if (Avx2.IsSupported)
        {
            low = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(values));
            high = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(values, 8)));
            return;
        }
        Vector128<ushort> l = Vector128.WidenLower(values), h = Vector128.WidenUpper(values);
        low = Vector256.ConvertToSingle(Vector256.Create(Vector128.WidenLower(l), Vector128.WidenUpper(l)).AsInt32());
        high = Vector256.ConvertToSingle(Vector256.Create(Vector128.WidenLower(h), Vector128.WidenUpper(h)).AsInt32());
    }

    /// <summary>The products <c>values[i] * x[i]</c>, the two halves added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Dot16(Vector128<sbyte> values, ref float x)
    {
        ToSingle(values, out var low, out var high);
        return Vector256.MultiplyAddEstimate(high, Vector256.LoadUnsafe(ref x, 8), low * Vector256.LoadUnsafe(ref x));
    }

    /// <summary><c>acc + values[i] * x[i]</c>, fused where the hardware fuses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16(Vector128<sbyte> values, ref float x, Vector256<float> acc)
    {
        ToSingle(values, out var low, out var high);
        return Vector256.MultiplyAddEstimate(high, Vector256.LoadUnsafe(ref x, 8), Vector256.MultiplyAddEstimate(low, Vector256.LoadUnsafe(ref x), acc));
    }

    /// <summary>The products of unsigned codes and <paramref name="x"/>, the two halves added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Dot16(Vector128<byte> values, ref float x)
    {
        ToSingle(values, out var low, out var high);
        return Vector256.MultiplyAddEstimate(high, Vector256.LoadUnsafe(ref x, 8), low * Vector256.LoadUnsafe(ref x));
    }

    /// <summary><c>acc + values[i] * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16(Vector128<byte> values, ref float x, Vector256<float> acc)
    {
        ToSingle(values, out var low, out var high);
        return Vector256.MultiplyAddEstimate(high, Vector256.LoadUnsafe(ref x, 8), Vector256.MultiplyAddEstimate(low, Vector256.LoadUnsafe(ref x), acc));
    }

    /// <summary>The 16 floats at <paramref name="x"/>, the two halves added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sum16(ref float x) => Vector256.LoadUnsafe(ref x) + Vector256.LoadUnsafe(ref x, 8);

    /// <summary>Stores <c>values[i] * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<sbyte> values, Vector256<float> scale, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        (low * scale).StoreUnsafe(ref destination);
        (high * scale).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>values[i] * scale + min</c>, rounding after the multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<sbyte> values, Vector256<float> scale, Vector256<float> min, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        (low * scale + min).StoreUnsafe(ref destination);
        (high * scale + min).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>(values[i] * factor) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16Factor(Vector128<sbyte> values, Vector256<float> factor, Vector256<float> scale, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        (low * factor * scale).StoreUnsafe(ref destination);
        (high * factor * scale).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>values[i] * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<byte> values, Vector256<float> scale, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        (low * scale).StoreUnsafe(ref destination);
        (high * scale).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>values[i] * scale + min</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<byte> values, Vector256<float> scale, Vector256<float> min, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        (low * scale + min).StoreUnsafe(ref destination);
        (high * scale + min).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>(values[i] - zero) * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<byte> values, Vector256<float> zero, Vector256<float> scale, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        ((low - zero) * scale).StoreUnsafe(ref destination);
        ((high - zero) * scale).StoreUnsafe(ref destination, 8);
    }
}
