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

    /// <summary>Stores <c>(values[i] - zero) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<sbyte> values, Vector256<float> zero, Vector256<float> scale, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        ((low - zero) * scale).StoreUnsafe(ref destination);
        ((high - zero) * scale).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>(values[i] - zero) * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<byte> values, Vector256<float> zero, Vector256<float> scale, ref float destination)
    {
        ToSingle(values, out var low, out var high);
        ((low - zero) * scale).StoreUnsafe(ref destination);
        ((high - zero) * scale).StoreUnsafe(ref destination, 8);
    }

    // ---- chunks whose values are floats (float codebooks, wide minifloats) ----------------------------

    /// <summary>16 floats in two 256-bit vectors.</summary>
    /// <param name="Low">Elements 0 to 7.</param>
    /// <param name="High">Elements 8 to 15.</param>
    public readonly record struct Floats16(Vector256<float> Low, Vector256<float> High);

    /// <summary>Maps 16 codes (0 to 15) through a 16-entry float table given as two halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Floats16 Lookup16(Vector128<byte> codes, Vector256<float> tableLow, Vector256<float> tableHigh)
    {
        if (Avx2.IsSupported)
        {
            Vector256<int> low = Avx2.ConvertToVector256Int32(codes), high = Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(codes, 8));
            return new Floats16(Pick(low, tableLow, tableHigh), Pick(high, tableLow, tableHigh));
        }
        Unsafe.SkipInit(out Vector256<float> a);
        Unsafe.SkipInit(out Vector256<float> b);
        for (int i = 0; i < 8; i++)
        {
            int c0 = codes.GetElement(i) & 15, c1 = codes.GetElement(i + 8) & 15;
            a = a.WithElement(i, c0 < 8 ? tableLow.GetElement(c0) : tableHigh.GetElement(c0 - 8));
            b = b.WithElement(i, c1 < 8 ? tableLow.GetElement(c1) : tableHigh.GetElement(c1 - 8));
        }
        return new Floats16(a, b);

        static Vector256<float> Pick(Vector256<int> index, Vector256<float> low, Vector256<float> high)
        {
            Vector256<float> upper = Vector256.Equals(index & Vector256.Create(8), Vector256.Create(8)).AsSingle();
            return Vector256.ConditionalSelect(upper, Avx2.PermuteVar8x32(high, index), Avx2.PermuteVar8x32(low, index));
        }
    }

    /// <summary>Decodes 16 minifloat codes of up to 8 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Floats16 Decode<TSpec>(Vector128<byte> codes) where TSpec : struct, Numerics.IMinifloatSpec
    {
        Vector128<ushort> low = Vector128.WidenLower(codes), high = Vector128.WidenUpper(codes);
        return new Floats16(
            SimdMinifloat.Decode<TSpec>(Vector256.Create(Vector128.WidenLower(low), Vector128.WidenUpper(low)).AsInt32()),
            SimdMinifloat.Decode<TSpec>(Vector256.Create(Vector128.WidenLower(high), Vector128.WidenUpper(high)).AsInt32()));
    }

    /// <summary>Decodes 16 consecutive 16-bit minifloat codes (f16, bf16) read from <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Floats16 Decode16<TSpec>(ref byte source, nuint offset) where TSpec : struct, Numerics.IMinifloatSpec
    {
        Vector256<ushort> codes = Vector256.LoadUnsafe(ref Unsafe.As<byte, ushort>(ref Unsafe.Add(ref source, offset)));
        return new Floats16(SimdMinifloat.Decode<TSpec>(Vector256.WidenLower(codes).AsInt32()), SimdMinifloat.Decode<TSpec>(Vector256.WidenUpper(codes).AsInt32()));
    }

    /// <summary>The products <c>values[i] * x[i]</c>, the two halves added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Dot16(Floats16 values, ref float x)
        => Vector256.MultiplyAddEstimate(values.High, Vector256.LoadUnsafe(ref x, 8), values.Low * Vector256.LoadUnsafe(ref x));

    /// <summary><c>acc + values[i] * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16(Floats16 values, ref float x, Vector256<float> acc)
        => Vector256.MultiplyAddEstimate(values.High, Vector256.LoadUnsafe(ref x, 8), Vector256.MultiplyAddEstimate(values.Low, Vector256.LoadUnsafe(ref x), acc));

    /// <summary>Stores the 16 floats as they are (formats without a scale).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Floats16 values, ref float destination)
    {
        values.Low.StoreUnsafe(ref destination);
        values.High.StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>values[i] * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Floats16 values, Vector256<float> scale, ref float destination)
    {
        (values.Low * scale).StoreUnsafe(ref destination);
        (values.High * scale).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>values[i] * scale + min</c>, rounding after the multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Floats16 values, Vector256<float> scale, Vector256<float> min, ref float destination)
    {
        (values.Low * scale + min).StoreUnsafe(ref destination);
        (values.High * scale + min).StoreUnsafe(ref destination, 8);
    }

    /// <summary>Stores <c>(values[i] - zero) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Floats16 values, Vector256<float> zero, Vector256<float> scale, ref float destination)
    {
        ((values.Low - zero) * scale).StoreUnsafe(ref destination);
        ((values.High - zero) * scale).StoreUnsafe(ref destination, 8);
    }

    // ---- dots of rebuilt weights: (v * scale + min) * x, for formats with a min or zero point --------------

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c>, the two halves added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16(Vector128<sbyte> values, Vector256<float> scale, Vector256<float> min, ref float x, Vector256<float> acc)
    {
        ToSingle(values, out var low, out var high);
        return DotAdd16(new Floats16(low, high), scale, min, ref x, acc);
    }

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16(Vector128<byte> values, Vector256<float> scale, Vector256<float> min, ref float x, Vector256<float> acc)
    {
        ToSingle(values, out var low, out var high);
        return DotAdd16(new Floats16(low, high), scale, min, ref x, acc);
    }

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c> for float values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16(Floats16 values, Vector256<float> scale, Vector256<float> min, ref float x, Vector256<float> acc)
    {
        acc = Vector256.MultiplyAddEstimate(Vector256.MultiplyAddEstimate(values.Low, scale, min), Vector256.LoadUnsafe(ref x), acc);
        return Vector256.MultiplyAddEstimate(Vector256.MultiplyAddEstimate(values.High, scale, min), Vector256.LoadUnsafe(ref x, 8), acc);
    }

    // Zero points rebuild (v - zero) * scale as the scalar dequantizer does: v * scale - zero * scale cancels when v is near zero.

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16ZeroPoint(Vector128<sbyte> values, Vector256<float> zero, Vector256<float> scale, ref float x, Vector256<float> acc)
    {
        ToSingle(values, out var low, out var high);
        return DotAdd16ZeroPoint(new Floats16(low, high), zero, scale, ref x, acc);
    }

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16ZeroPoint(Vector128<byte> values, Vector256<float> zero, Vector256<float> scale, ref float x, Vector256<float> acc)
    {
        ToSingle(values, out var low, out var high);
        return DotAdd16ZeroPoint(new Floats16(low, high), zero, scale, ref x, acc);
    }

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c> for float values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> DotAdd16ZeroPoint(Floats16 values, Vector256<float> zero, Vector256<float> scale, ref float x, Vector256<float> acc)
    {
        acc = Vector256.MultiplyAddEstimate((values.Low - zero) * scale, Vector256.LoadUnsafe(ref x), acc);
        return Vector256.MultiplyAddEstimate((values.High - zero) * scale, Vector256.LoadUnsafe(ref x, 8), acc);
    }
}
