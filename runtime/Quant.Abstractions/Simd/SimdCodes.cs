using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Quant.Simd;

/// <summary>
/// Extracts 16 consecutive element codes into the 16 bytes of a <see cref="Vector128{T}"/>, in element
/// order, for each packing. The generated SIMD kernels of every width work on such 16-element chunks.
/// </summary>
public static class SimdCodes
{
    /// <summary>Loads 16 one-byte codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Load(ref byte field, nuint offset) => Vector128.LoadUnsafe(ref field, offset);

    /// <summary>The bits <c>[shift, shift + bits)</c> of each byte (one slice of ggml's sliced packing).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Slice(Vector128<byte> bytes, int shift, int bits)
    {
        Vector128<byte> shifted = shift == 0 ? bytes : Vector128.ShiftRightLogical(bytes, shift);
        return shift + bits >= 8 ? shifted : shifted & Vector128.Create((byte)((1 << bits) - 1));
    }

    /// <summary>16 four-bit codes from 8 bytes of an LSB-first stream: element 2i is the low nibble of byte i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> NibblesLowFirst(ref byte field, nuint offset)
    {
        Vector128<ushort> w = Vector128.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref field, offset))).AsByte());
        return ((w & Vector128.Create((ushort)0x000F)) | (Vector128.ShiftLeft(w, 4) & Vector128.Create((ushort)0x0F00))).AsByte();
    }

    /// <summary>16 four-bit codes from 8 bytes, element 2i in the high nibble of byte i (bitsandbytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> NibblesHighFirst(ref byte field, nuint offset)
    {
        Vector128<ushort> w = Vector128.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref field, offset))).AsByte());
        return ((Vector128.ShiftRightLogical(w, 4) & Vector128.Create((ushort)0x000F)) | (Vector128.ShiftLeft(w, 8) & Vector128.Create((ushort)0x0F00))).AsByte();
    }

    /// <summary>16 one-bit codes (0 or 1) from the 16 bits at byte <paramref name="offset"/> of an LSB-first bit stream.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Bits(ref byte field, nuint offset)
    {
        Vector128<byte> both = Vector128.Create(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref field, offset))).AsByte();
        Vector128<byte> spread = Vector128.Shuffle(both, Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        Vector128<byte> masked = spread & Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        return Vector128.Min(masked, Vector128<byte>.One);
    }

    /// <summary>
    /// 16 codes of <paramref name="bits"/> bits starting at bit <paramref name="bitOffset"/> of an
    /// LSB-first stream, for the widths without a dedicated path (2, 3, 5, 6, 7).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Sequential(ref byte field, int bitOffset, int bits)
    {
        Unsafe.SkipInit(out Vector128<byte> codes);
        ref byte c = ref Unsafe.As<Vector128<byte>, byte>(ref codes);
        int first = bitOffset / bits;
        for (int i = 0; i < 16; i++)
        {
            Unsafe.Add(ref c, i) = (byte)Numerics.BitPacking.ReadSequential(ref field, first + i, bits);
        }
        return codes;
    }

    /// <summary>Maps each code (0 to 15) through a 16-entry table with one byte shuffle.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Lookup(Vector128<sbyte> table, Vector128<byte> codes)
        => Vector128.ShuffleNative(table, codes.AsSByte());

    /// <summary>Sign-extends codes of <paramref name="bits"/> bits (two's complement) to bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> SignExtend(Vector128<byte> codes, int bits)
    {
        if (bits == 8) return codes.AsSByte();
        Vector128<byte> sign = Vector128.Create((byte)(1 << (bits - 1)));
        return ((codes ^ sign) - sign).AsSByte();
    }
}
