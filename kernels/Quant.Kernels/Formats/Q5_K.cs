using System;

namespace Quant.Kernels;

/// <summary>
/// ggml's Q5_K: 256-element super-blocks of eight 32-element sub-blocks with 6-bit scales and mins in
/// ggml's 12-byte packing, 5-bit codes; <c>y = (d * sc) * q - (dmin * m)</c>.
/// </summary>
[QuantFormat("q5_K", Uqff = UqffLayer.Gguf, GgufType = 13, VecDotType = "q8_K", Description = "ggml q5_K: 256 x 5-bit, 6-bit sub-scales and mins")]
[Block(256, SubBlock = 32)]
[Scale(ScaleCode.F16)]
[Min(ScaleCode.F16, Name = "dmin", Mode = MinMode.SubtractScaled)]
[SubScales(6, WithMins = true, Unpack = nameof(UnpackScales), Pack = nameof(PackScales), Bytes = 12,
    DeviceUnpack = KQuantScales.DeviceUnpack)]
[HighBits(1, Name = "qh", Packing = Packing.Sliced, Stride = 32)]
[Codes(4, Packing = Packing.Sliced, Stride = 32)]
[Integer]
[QuantRule("ggml", ScaleRule.GgmlKQuant, Default = true, Description = "ggml's q5_K search (weighted with an importance matrix), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q5_K
{
    private static void UnpackScales(ReadOnlySpan<byte> packed, Span<byte> scales, Span<byte> mins) => KQuantScales.Unpack(packed, scales, mins);

    private static void PackScales(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> packed) => KQuantScales.Pack(scales, mins, packed);
}
