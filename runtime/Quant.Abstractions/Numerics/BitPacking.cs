using System.Runtime.CompilerServices;

namespace Quant.Numerics;

/// <summary>
/// Scalar reads and writes of packed codes, one element at a time, for the three arrangements of
/// <see cref="Packing"/>. The generated scalar kernels are written with these; they are the reference
/// the SIMD paths are checked against. Writers OR into the field, so callers clear it first.
/// </summary>
public static class BitPacking
{
    /// <summary>Reads element <paramref name="index"/> of an LSB-first bit stream of <paramref name="bits"/>-bit codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadSequential(ref byte field, int index, int bits)
    {
        int bit = index * bits;
        int at = bit >> 3;
        int shift = bit & 7;
        int word = Unsafe.Add(ref field, at);
        if (shift + bits > 8) word |= Unsafe.Add(ref field, at + 1) << 8;
        return (word >> shift) & ((1 << bits) - 1);
    }

    /// <summary>Writes element <paramref name="index"/> of an LSB-first bit stream (ORs the bits in).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteSequential(ref byte field, int index, int bits, int code)
    {
        int bit = index * bits;
        int at = bit >> 3;
        int shift = bit & 7;
        int word = (code & ((1 << bits) - 1)) << shift;
        Unsafe.Add(ref field, at) |= (byte)word;
        if (shift + bits > 8) Unsafe.Add(ref field, at + 1) |= (byte)(word >> 8);
    }

    /// <summary>Reads element <paramref name="index"/> of a stream whose codes fill each byte from the top bits down.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadSequentialHighFirst(ref byte field, int index, int bits)
    {
        int bit = index * bits;
        int shift = 8 - bits - (bit & 7);
        return (Unsafe.Add(ref field, bit >> 3) >> shift) & ((1 << bits) - 1);
    }

    /// <summary>Writes element <paramref name="index"/> of a high-bits-first stream (ORs the bits in).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteSequentialHighFirst(ref byte field, int index, int bits, int code)
    {
        int bit = index * bits;
        int shift = 8 - bits - (bit & 7);
        Unsafe.Add(ref field, bit >> 3) |= (byte)((code & ((1 << bits) - 1)) << shift);
    }

    /// <summary>
    /// Reads element <paramref name="index"/> of ggml's sliced arrangement: runs of <paramref name="stride"/>
    /// bytes, byte <c>j</c> of a run holding elements <c>j</c>, <c>j + stride</c>, ... from its low bits up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadSliced(ref byte field, int index, int bits, int stride)
    {
        int perRun = stride * (8 / bits);
        int run = index / perRun;
        int within = index - run * perRun;
        int slice = within / stride;
        int b = Unsafe.Add(ref field, run * stride + within - slice * stride);
        return (b >> (slice * bits)) & ((1 << bits) - 1);
    }

    /// <summary>Writes element <paramref name="index"/> of the sliced arrangement (ORs the bits in).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteSliced(ref byte field, int index, int bits, int stride, int code)
    {
        int perRun = stride * (8 / bits);
        int run = index / perRun;
        int within = index - run * perRun;
        int slice = within / stride;
        Unsafe.Add(ref field, run * stride + within - slice * stride) |= (byte)((code & ((1 << bits) - 1)) << (slice * bits));
    }
}
