using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quant.Simd;

/// <summary>
/// 512-bit float arithmetic on 16-element chunks of codes (one <see cref="Vector512{T}"/> of floats per
/// chunk). <c>Dot*</c> helpers may fuse multiply and add; <c>Store*</c> helpers never do, so that
/// dequantization gives the scalar reference's floats bit for bit.
/// </summary>
public static class Simd512
{
    /// <summary>Converts 16 signed bytes to floats, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector128<sbyte> values)
    {
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(values));
        return Vector512.ConvertToSingle(Vector512.WidenLower(Vector256.WidenLower(values.ToVector256Unsafe()).ToVector512Unsafe()));
    }

    /// <summary>Converts 16 unsigned bytes to floats, exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector128<byte> values)
    {
        if (Avx512F.IsSupported) return Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(values));
        return Vector512.ConvertToSingle(Vector512.WidenLower(Vector256.WidenLower(values.ToVector256Unsafe()).ToVector512Unsafe()).AsInt32());
    }

    /// <summary>The 16 products <c>values[i] * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Dot16(Vector128<sbyte> values, ref float x) => ToSingle(values) * Vector512.LoadUnsafe(ref x);

    /// <summary><c>acc + values[i] * x[i]</c>, fused where the hardware fuses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16(Vector128<sbyte> values, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate(ToSingle(values), Vector512.LoadUnsafe(ref x), acc);

    /// <summary>The 16 products of unsigned codes and <paramref name="x"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Dot16(Vector128<byte> values, ref float x) => ToSingle(values) * Vector512.LoadUnsafe(ref x);

    /// <summary><c>acc + values[i] * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16(Vector128<byte> values, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate(ToSingle(values), Vector512.LoadUnsafe(ref x), acc);

    /// <summary>The 16 floats at <paramref name="x"/> (their sum is taken at the end of the row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Sum16(ref float x) => Vector512.LoadUnsafe(ref x);

    /// <summary>Stores <c>values[i] * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<sbyte> values, Vector512<float> scale, ref float destination)
        => (ToSingle(values) * scale).StoreUnsafe(ref destination);

    /// <summary>Stores <c>values[i] * scale + min</c>, rounding after the multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<sbyte> values, Vector512<float> scale, Vector512<float> min, ref float destination)
        => (ToSingle(values) * scale + min).StoreUnsafe(ref destination);

    /// <summary>Stores <c>(values[i] * factor) * scale</c>: a codebook kept as integers times a power of two.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16Factor(Vector128<sbyte> values, Vector512<float> factor, Vector512<float> scale, ref float destination)
        => (ToSingle(values) * factor * scale).StoreUnsafe(ref destination);

    /// <summary>Stores <c>values[i] * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<byte> values, Vector512<float> scale, ref float destination)
        => (ToSingle(values) * scale).StoreUnsafe(ref destination);

    /// <summary>Stores <c>values[i] * scale + min</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector128<byte> values, Vector512<float> scale, Vector512<float> min, ref float destination)
        => (ToSingle(values) * scale + min).StoreUnsafe(ref destination);

    /// <summary>Stores <c>(values[i] - zero) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<sbyte> values, Vector512<float> zero, Vector512<float> scale, ref float destination)
        => ((ToSingle(values) - zero) * scale).StoreUnsafe(ref destination);

    /// <summary>Stores <c>(values[i] - zero) * scale</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector128<byte> values, Vector512<float> zero, Vector512<float> scale, ref float destination)
        => ((ToSingle(values) - zero) * scale).StoreUnsafe(ref destination);

    // ---- chunks whose values are floats (float codebooks, wide minifloats) ----------------------------

    /// <summary>Maps 16 codes (0 to 15) through a 16-entry float table: one permute.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Lookup16(Vector128<byte> codes, Vector512<float> table)
    {
        if (Avx512F.IsSupported) return Avx512F.PermuteVar16x32(table, Avx512F.ConvertToVector512Int32(codes));
        Unsafe.SkipInit(out Vector512<float> result);
        for (int i = 0; i < 16; i++) result = result.WithElement(i, table.GetElement(codes.GetElement(i) & 15));
        return result;
    }

    /// <summary>Decodes 16 minifloat codes of up to 8 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Decode<TSpec>(Vector128<byte> codes) where TSpec : struct, Numerics.IMinifloatSpec
        => SimdMinifloat.Decode<TSpec>(Avx512F.IsSupported ? Avx512F.ConvertToVector512Int32(codes)
            : Vector512.WidenLower(Vector256.WidenLower(codes.ToVector256Unsafe()).ToVector512Unsafe()).AsInt32());

    /// <summary>Decodes 16 consecutive 16-bit minifloat codes (f16, bf16) read from <paramref name="source"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Decode16<TSpec>(ref byte source, nuint offset) where TSpec : struct, Numerics.IMinifloatSpec
        => SimdMinifloat.Decode<TSpec>(Vector512.WidenLower(Vector256.LoadUnsafe(ref Unsafe.As<byte, ushort>(ref Unsafe.Add(ref source, offset))).ToVector512Unsafe()).AsInt32());

    /// <summary>The 16 products <c>values[i] * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Dot16(Vector512<float> values, ref float x) => values * Vector512.LoadUnsafe(ref x);

    /// <summary><c>acc + values[i] * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16(Vector512<float> values, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate(values, Vector512.LoadUnsafe(ref x), acc);

    /// <summary>Stores the 16 floats as they are (formats without a scale).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector512<float> values, ref float destination) => values.StoreUnsafe(ref destination);

    /// <summary>Stores <c>values[i] * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector512<float> values, Vector512<float> scale, ref float destination) => (values * scale).StoreUnsafe(ref destination);

    /// <summary>Stores <c>values[i] * scale + min</c>, rounding after the multiply.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16(Vector512<float> values, Vector512<float> scale, Vector512<float> min, ref float destination)
        => (values * scale + min).StoreUnsafe(ref destination);

    /// <summary>Stores <c>(values[i] - zero) * scale</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store16ZeroPoint(Vector512<float> values, Vector512<float> zero, Vector512<float> scale, ref float destination)
        => ((values - zero) * scale).StoreUnsafe(ref destination);

    // ---- dots of rebuilt weights: (v * scale + min) * x, for formats with a min or zero point --------------

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16(Vector128<sbyte> values, Vector512<float> scale, Vector512<float> min, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate(Vector512.MultiplyAddEstimate(ToSingle(values), scale, min), Vector512.LoadUnsafe(ref x), acc);

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16(Vector128<byte> values, Vector512<float> scale, Vector512<float> min, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate(Vector512.MultiplyAddEstimate(ToSingle(values), scale, min), Vector512.LoadUnsafe(ref x), acc);

    /// <summary><c>acc + (values[i] * scale + min) * x[i]</c> for float values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16(Vector512<float> values, Vector512<float> scale, Vector512<float> min, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate(Vector512.MultiplyAddEstimate(values, scale, min), Vector512.LoadUnsafe(ref x), acc);

    // Zero points rebuild (v - zero) * scale as the scalar dequantizer does: v * scale - zero * scale cancels when v is near zero.

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16ZeroPoint(Vector128<sbyte> values, Vector512<float> zero, Vector512<float> scale, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate((ToSingle(values) - zero) * scale, Vector512.LoadUnsafe(ref x), acc);

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c> for unsigned codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16ZeroPoint(Vector128<byte> values, Vector512<float> zero, Vector512<float> scale, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate((ToSingle(values) - zero) * scale, Vector512.LoadUnsafe(ref x), acc);

    /// <summary><c>acc + ((values[i] - zero) * scale) * x[i]</c> for float values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> DotAdd16ZeroPoint(Vector512<float> values, Vector512<float> zero, Vector512<float> scale, ref float x, Vector512<float> acc)
        => Vector512.MultiplyAddEstimate((values - zero) * scale, Vector512.LoadUnsafe(ref x), acc);
}
