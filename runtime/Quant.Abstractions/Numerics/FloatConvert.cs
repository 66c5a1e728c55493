using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Quant.Numerics;

/// <summary>
/// float32 spans to binary16 and bfloat16, rounding to nearest even, with the widest vectors available.
/// Both give exactly the bits of the scalar conversions (<see cref="Fp16.FromSingle"/>, <see cref="Bf16.FromSingle"/>),
/// NaN aside: binary16 NaN becomes the quiet 0x7E00 with the sign kept.
/// </summary>
public static class FloatConvert
{
    /// <summary>Converts <paramref name="source"/> to binary16.</summary>
    public static void ToHalf(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("The destination is shorter than the source.", nameof(destination));
        var input = MemoryMarshal.Cast<float, uint>(source);
        var output = MemoryMarshal.Cast<Half, ushort>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int n = Vector<uint>.Count;
            for (; i <= input.Length - 2 * n; i += 2 * n)
            {
                Vector.Narrow(ToHalfBits(new Vector<uint>(input.Slice(i))), ToHalfBits(new Vector<uint>(input.Slice(i + n)))).CopyTo(output.Slice(i));
            }
        }
        for (; i < input.Length; i++) output[i] = (ushort)ToHalfBits(new Vector<uint>(input[i]))[0];
    }

    /// <summary>Converts <paramref name="source"/> to bfloat16 (ggml's rounding: NaN stays a quiet NaN).</summary>
    public static void ToBFloat16(ReadOnlySpan<float> source, Span<BFloat16> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("The destination is shorter than the source.", nameof(destination));
        var input = MemoryMarshal.Cast<float, uint>(source);
        var output = MemoryMarshal.Cast<BFloat16, ushort>(destination);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            int n = Vector<uint>.Count;
            for (; i <= input.Length - 2 * n; i += 2 * n)
            {
                Vector.Narrow(ToBFloat16Bits(new Vector<uint>(input.Slice(i))), ToBFloat16Bits(new Vector<uint>(input.Slice(i + n)))).CopyTo(output.Slice(i));
            }
        }
        for (; i < input.Length; i++) output[i] = Bf16.FromSingle(source[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> ToBFloat16Bits(Vector<uint> u)
    {
        Vector<uint> rounded = Vector.ShiftRightLogical(u + new Vector<uint>(0x7FFF) + (Vector.ShiftRightLogical(u, 16) & Vector<uint>.One), 16);
        Vector<uint> nan = Vector.ShiftRightLogical(u, 16) | new Vector<uint>(0x40);
        return Vector.ConditionalSelect(Vector.GreaterThan(u & new Vector<uint>(0x7FFFFFFF), new Vector<uint>(0x7F800000)), nan, rounded);
    }

    // Round to nearest even by integer arithmetic: normals rebias the exponent and add the rounding bias;
    // results below the smallest normal are aligned by adding 0.5f, whose exponent puts the ten mantissa
    // bits at the bottom; beyond 65520 is infinity, and NaN becomes 0x7E00.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> ToHalfBits(Vector<uint> u)
    {
        Vector<uint> sign = Vector.ShiftRightLogical(u, 16) & new Vector<uint>(0x8000);
        Vector<uint> a = u & new Vector<uint>(0x7FFFFFFF);
        Vector<uint> mantissaOdd = Vector.ShiftRightLogical(a, 13) & Vector<uint>.One;
        Vector<uint> normal = Vector.ShiftRightLogical(a + new Vector<uint>(unchecked((uint)((15 - 127) << 23) + 0xFFF)) + mantissaOdd, 13);
        Vector<uint> magic = new(126u << 23);
        Vector<uint> subnormal = Vector.AsVectorUInt32(Vector.AsVectorSingle(a) + Vector.AsVectorSingle(magic)) - magic;
        Vector<uint> result = Vector.ConditionalSelect(Vector.LessThan(a, new Vector<uint>(113u << 23)), subnormal, normal);
        result = Vector.ConditionalSelect(Vector.GreaterThanOrEqual(a, new Vector<uint>(143u << 23)), new Vector<uint>(0x7C00), result);
        result = Vector.ConditionalSelect(Vector.GreaterThan(a, new Vector<uint>(0x7F800000)), new Vector<uint>(0x7E00), result);
        return result | sign;
    }
}
