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
    /// <summary>
    /// The same unpacking in device C, for the GPU kernels: sub-block <c>j</c>'s scale in bits 0-7 and its min in
    /// bits 8-15 (ggml's <c>get_scale_min_k4</c>). The body of <c>uint f(const uchar* field, int j)</c>.
    /// </summary>
    public const string DeviceUnpack = """
        uint scale, min;
        if (j < 4)
        {
            scale = field[j] & 63u;
            min = field[j + 4] & 63u;
        }
        else
        {
            scale = (field[j + 4] & 15u) | (uint)(field[j - 4] >> 6) << 4;
            min = (uint)(field[j + 4] >> 4) | (uint)(field[j] >> 6) << 4;
        }
        return scale | min << 8;
        """;

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
