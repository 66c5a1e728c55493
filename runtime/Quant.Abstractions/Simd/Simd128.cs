using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quant.Simd;

/// <summary>
/// 128-bit float arithmetic on 16-element chunks of codes (four <see cref="Vector128{T}"/> of floats per
/// chunk). <c>Dot*</c> helpers may fuse; <c>Store*</c> helpers never do (bit-exact dequantization).
/// </summary>
public static class Simd128
{
    /// <summary>Converts 16 signed bytes to four vectors of floats, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToSingle(Vector128<sbyte> values, out Vector128<float> f0, out Vector128<float> f1, out Vector128<float> f2, out Vector128<float> f3)
    {
        if (Sse41.IsSupported)
        {
            f0 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(values));
            f1 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(Sse2.ShiftRightLogical128BitLane(values, 4)));
            f2 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(Sse2.ShiftRightLogical128BitLane(values, 8)));
            f3 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(Sse2.ShiftRightLogical128BitLane(values, 12)));
            return;
        }
        Vector128<short> l = Vector128.WidenLower(values), h = Vector128.WidenUpper(values);
        f0 = Vector128.ConvertToSingle(Vector128.WidenLower(l));
        f1 = Vector128.ConvertToSingle(Vector128.WidenUpper(l));
        f2 = Vector128.ConvertToSingle(Vector128.WidenLower(h));
        f3 = Vector128.ConvertToSingle(Vector128.WidenUpper(h));
    }

    /// <summary>Converts 16 unsigned bytes to four vectors of floats, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ToSingle(Vector128<byte> values, out Vector128<float> f0, out Vector128<float> f1, out Vector128<float> f2, out Vector128<float> f3)
    {
        if (Sse41.IsSupported)
        {
            f0 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(values));
            f1 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(Sse2.ShiftRightLogical128BitLane(values, 4)));
            f2 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(Sse2.ShiftRightLogical128BitLane(values, 8)));
            f3 = Sse2.ConvertToVector128Single(Sse41.ConvertToVector128Int32(Sse2.ShiftRightLogical128BitLane(values, 12)));
            return;
        }
        Vector128<ushort> l = Vector128.WidenLower(values), h = Vector128.WidenUpper(values);
        f0 = Vector128.ConvertToSingle(Vector128.WidenLower(l).AsInt32());
        f1 = Vector128.ConvertToSingle(Vector128.WidenUpper(l).AsInt32());
        f2 = Vector128.ConvertToSingle(Vector128.WidenLower(h).AsInt32());
        f3 = Vector128.ConvertToSingle(Vector128.WidenUpper(h).AsInt32());
    }

    /// <summary>The products <c>values[i] * x[i]</c>, the four quarters added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Dot16(Vector128<sbyte> values, ref float x)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return Accumulate(f0, f1, f2, f3, ref x, f0 * Vector128.LoadUnsafe(ref x), skipFirst: true);
    }

    /// <summary><c>acc + values[i] * x[i]</c>, fused where the hardware fuses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16(Vector128<sbyte> values, ref float x, Vector128<float> acc)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return Accumulate(f0, f1, f2, f3, ref x, acc, skipFirst: false);
    }

    /// <summary>The products of unsigned codes and <paramref name="x"/>, the four quarters added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Dot16(Vector128<byte> values, ref float x)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return Accumulate(f0, f1, f2, f3, ref x, f0 * Vector128.LoadUnsafe(ref x), skipFirst: true);
    }

    /// <summary><c>acc + values[i] * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16(Vector128<byte> values, ref float x, Vector128<float> acc)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return Accumulate(f0, f1, f2, f3, ref x, acc, skipFirst: false);
    }

    /// <summary>The 16 floats at <paramref name="x"/>, the four quarters added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum16(ref float x)
        => (Vector128.LoadUnsafe(ref x) + Vector128.LoadUnsafe(ref x, 4)) + (Vector128.LoadUnsafe(ref x, 8) + Vector128.LoadUnsafe(ref x, 12));

    /// <summary>Stores <c>values[i] * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<sbyte> values, Vector128<float> scale, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        (f0 * scale).StoreUnsafe(ref destination);
        (f1 * scale).StoreUnsafe(ref destination, 4);
        (f2 * scale).StoreUnsafe(ref destination, 8);
        (f3 * scale).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>values[i] * scale + min</c>, rounding after the multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<sbyte> values, Vector128<float> scale, Vector128<float> min, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        (f0 * scale + min).StoreUnsafe(ref destination);
        (f1 * scale + min).StoreUnsafe(ref destination, 4);
        (f2 * scale + min).StoreUnsafe(ref destination, 8);
        (f3 * scale + min).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>(values[i] * factor) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16Factor(Vector128<sbyte> values, Vector128<float> factor, Vector128<float> scale, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        (f0 * factor * scale).StoreUnsafe(ref destination);
        (f1 * factor * scale).StoreUnsafe(ref destination, 4);
        (f2 * factor * scale).StoreUnsafe(ref destination, 8);
        (f3 * factor * scale).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>values[i] * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<byte> values, Vector128<float> scale, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        (f0 * scale).StoreUnsafe(ref destination);
        (f1 * scale).StoreUnsafe(ref destination, 4);
        (f2 * scale).StoreUnsafe(ref destination, 8);
        (f3 * scale).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>values[i] * scale + min</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<byte> values, Vector128<float> scale, Vector128<float> min, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        (f0 * scale + min).StoreUnsafe(ref destination);
        (f1 * scale + min).StoreUnsafe(ref destination, 4);
        (f2 * scale + min).StoreUnsafe(ref destination, 8);
        (f3 * scale + min).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>(values[i] - zero) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<sbyte> values, Vector128<float> zero, Vector128<float> scale, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        ((f0 - zero) * scale).StoreUnsafe(ref destination);
        ((f1 - zero) * scale).StoreUnsafe(ref destination, 4);
        ((f2 - zero) * scale).StoreUnsafe(ref destination, 8);
        ((f3 - zero) * scale).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>(values[i] - zero) * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<byte> values, Vector128<float> zero, Vector128<float> scale, ref float destination)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        ((f0 - zero) * scale).StoreUnsafe(ref destination);
        ((f1 - zero) * scale).StoreUnsafe(ref destination, 4);
        ((f2 - zero) * scale).StoreUnsafe(ref destination, 8);
        ((f3 - zero) * scale).StoreUnsafe(ref destination, 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Accumulate(Vector128<float> f0, Vector128<float> f1, Vector128<float> f2, Vector128<float> f3,
        ref float x, Vector128<float> acc, bool skipFirst)
    {
        if (!skipFirst) acc = Vector128.MultiplyAddEstimate(f0, Vector128.LoadUnsafe(ref x), acc);
        acc = Vector128.MultiplyAddEstimate(f1, Vector128.LoadUnsafe(ref x, 4), acc);
        acc = Vector128.MultiplyAddEstimate(f2, Vector128.LoadUnsafe(ref x, 8), acc);
        return Vector128.MultiplyAddEstimate(f3, Vector128.LoadUnsafe(ref x, 12), acc);
    }

    // ---- chunks whose values are floats (float codebooks, wide minifloats) ----------------------------

    /// <summary>16 floats in four 128-bit vectors.</summary>
    public readonly record struct Floats16(Vector128<float> F0, Vector128<float> F1, Vector128<float> F2, Vector128<float> F3);

    /// <summary>Maps 16 codes (0 to 15) through a 16-entry float table (a gather from the table's 16 floats).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Floats16 Lookup16(Vector128<byte> codes, ref float table)
    {
        Unsafe.SkipInit(out Floats16 result);
        ref float r = ref Unsafe.As<Floats16, float>(ref result);
        for (int i = 0; i < 16; i++) Unsafe.Add(ref r, i) = Unsafe.Add(ref table, codes.GetElement(i) & 15);
        return result;
    }

    /// <summary>Decodes 16 minifloat codes of up to 8 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Floats16 Decode<TSpec>(Vector128<byte> codes) where TSpec : struct, Numerics.IMinifloatSpec
    {
        Vector128<ushort> low = Vector128.WidenLower(codes), high = Vector128.WidenUpper(codes);
        return new Floats16(
            SimdMinifloat.Decode<TSpec>(Vector128.WidenLower(low).AsInt32()), SimdMinifloat.Decode<TSpec>(Vector128.WidenUpper(low).AsInt32()),
            SimdMinifloat.Decode<TSpec>(Vector128.WidenLower(high).AsInt32()), SimdMinifloat.Decode<TSpec>(Vector128.WidenUpper(high).AsInt32()));
    }

    /// <summary>Decodes 16 consecutive 16-bit minifloat codes (f16, bf16) read from <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Floats16 Decode16<TSpec>(ref byte source, nuint offset) where TSpec : struct, Numerics.IMinifloatSpec
    {
        ref ushort p = ref Unsafe.As<byte, ushort>(ref Unsafe.Add(ref source, offset));
        Vector128<ushort> a = Vector128.LoadUnsafe(ref p), b = Vector128.LoadUnsafe(ref p, 8);
        return new Floats16(
            SimdMinifloat.Decode<TSpec>(Vector128.WidenLower(a).AsInt32()), SimdMinifloat.Decode<TSpec>(Vector128.WidenUpper(a).AsInt32()),
            SimdMinifloat.Decode<TSpec>(Vector128.WidenLower(b).AsInt32()), SimdMinifloat.Decode<TSpec>(Vector128.WidenUpper(b).AsInt32()));
    }

    /// <summary>The products <c>values[i] * x[i]</c>, the four quarters added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Dot16(Floats16 values, ref float x)
        => Accumulate(values.F0, values.F1, values.F2, values.F3, ref x, values.F0 * Vector128.LoadUnsafe(ref x), skipFirst: true);

    /// <summary><c>acc + values[i] * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16(Floats16 values, ref float x, Vector128<float> acc)
        => Accumulate(values.F0, values.F1, values.F2, values.F3, ref x, acc, skipFirst: false);

    /// <summary>Stores the 16 floats as they are (formats without a scale).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Floats16 values, ref float destination)
    {
        values.F0.StoreUnsafe(ref destination);
        values.F1.StoreUnsafe(ref destination, 4);
        values.F2.StoreUnsafe(ref destination, 8);
        values.F3.StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>values[i] * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Floats16 values, Vector128<float> scale, ref float destination)
    {
        (values.F0 * scale).StoreUnsafe(ref destination);
        (values.F1 * scale).StoreUnsafe(ref destination, 4);
        (values.F2 * scale).StoreUnsafe(ref destination, 8);
        (values.F3 * scale).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>values[i] * scale + min</c>, rounding after the multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Floats16 values, Vector128<float> scale, Vector128<float> min, ref float destination)
    {
        (values.F0 * scale + min).StoreUnsafe(ref destination);
        (values.F1 * scale + min).StoreUnsafe(ref destination, 4);
        (values.F2 * scale + min).StoreUnsafe(ref destination, 8);
        (values.F3 * scale + min).StoreUnsafe(ref destination, 12);
    }

    /// <summary>Stores <c>(values[i] - zero) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Floats16 values, Vector128<float> zero, Vector128<float> scale, ref float destination)
    {
        ((values.F0 - zero) * scale).StoreUnsafe(ref destination);
        ((values.F1 - zero) * scale).StoreUnsafe(ref destination, 4);
        ((values.F2 - zero) * scale).StoreUnsafe(ref destination, 8);
        ((values.F3 - zero) * scale).StoreUnsafe(ref destination, 12);
    }

    // ---- dots of rebuilt weights: (v * scale + min) * x, for formats with a min or zero point --------------

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c>, the four quarters added.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16(Vector128<sbyte> values, Vector128<float> scale, Vector128<float> min, ref float x, Vector128<float> acc)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return DotAdd16(new Floats16(f0, f1, f2, f3), scale, min, ref x, acc);
    }

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16(Vector128<byte> values, Vector128<float> scale, Vector128<float> min, ref float x, Vector128<float> acc)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return DotAdd16(new Floats16(f0, f1, f2, f3), scale, min, ref x, acc);
    }

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c> for float values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16(Floats16 values, Vector128<float> scale, Vector128<float> min, ref float x, Vector128<float> acc)
    {
        acc = Vector128.MultiplyAddEstimate(Vector128.MultiplyAddEstimate(values.F0, scale, min), Vector128.LoadUnsafe(ref x), acc);
        acc = Vector128.MultiplyAddEstimate(Vector128.MultiplyAddEstimate(values.F1, scale, min), Vector128.LoadUnsafe(ref x, 4), acc);
        acc = Vector128.MultiplyAddEstimate(Vector128.MultiplyAddEstimate(values.F2, scale, min), Vector128.LoadUnsafe(ref x, 8), acc);
        return Vector128.MultiplyAddEstimate(Vector128.MultiplyAddEstimate(values.F3, scale, min), Vector128.LoadUnsafe(ref x, 12), acc);
    }

    // Zero points rebuild (v - zero) * scale as the scalar dequantizer does: v * scale - zero * scale cancels when v is near zero.

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16ZeroPoint(Vector128<sbyte> values, Vector128<float> zero, Vector128<float> scale, ref float x, Vector128<float> acc)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return DotAdd16ZeroPoint(new Floats16(f0, f1, f2, f3), zero, scale, ref x, acc);
    }

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16ZeroPoint(Vector128<byte> values, Vector128<float> zero, Vector128<float> scale, ref float x, Vector128<float> acc)
    {
        ToSingle(values, out var f0, out var f1, out var f2, out var f3);
        return DotAdd16ZeroPoint(new Floats16(f0, f1, f2, f3), zero, scale, ref x, acc);
    }

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c> for float values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> DotAdd16ZeroPoint(Floats16 values, Vector128<float> zero, Vector128<float> scale, ref float x, Vector128<float> acc)
    {
        acc = Vector128.MultiplyAddEstimate((values.F0 - zero) * scale, Vector128.LoadUnsafe(ref x), acc);
        acc = Vector128.MultiplyAddEstimate((values.F1 - zero) * scale, Vector128.LoadUnsafe(ref x, 4), acc);
        acc = Vector128.MultiplyAddEstimate((values.F2 - zero) * scale, Vector128.LoadUnsafe(ref x, 8), acc);
        return Vector128.MultiplyAddEstimate((values.F3 - zero) * scale, Vector128.LoadUnsafe(ref x, 12), acc);
    }
}
