using System;

namespace Quant.Kernels;

/// <summary>
/// The 12-byte packing of eight 6-bit scales and eight 6-bit mins that q4_K and q5_K share: the one
/// layout the DSL cannot say, so the declarations name these methods (docs/FORMATS.md lists every such escape hatch).
/// Bytes 0-3: scales 0-3 in their low six bits, the top two bits of scales 4-7 above them; bytes 4-7: the
/// same for the mins; bytes 8-11: the low four bits of scale 4-7 (low nibble) and of min 4-7 (high nibble).
/// </summary>
internal static class KQuantScales
{
    public static void Unpack(ReadOnlySpan<byte> packed, Span<byte> scales, Span<byte> mins)
    {
        for (int j = 0; j < 4; j++)
        {
            scales[j] = (byte)(packed[j] & 63);
            mins[j] = (byte)(packed[j + 4] & 63);
            scales[j + 4] = (byte)((packed[j + 8] & 15) | ((packed[j] >> 6) << 4));
            mins[j + 4] = (byte)((packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4));
        }
    }

    public static void Pack(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> packed)
    {
        for (int j = 0; j < 4; j++)
        {
            packed[j] = (byte)((scales[j] & 63) | ((scales[j + 4] >> 4) << 6));
            packed[j + 4] = (byte)((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
            packed[j + 8] = (byte)((scales[j + 4] & 15) | ((mins[j + 4] & 15) << 4));
        }
    }
}
