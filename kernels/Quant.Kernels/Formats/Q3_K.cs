namespace Quant.Kernels;

/// <summary>
/// ggml's Q3_K: 256-element super-blocks of sixteen 16-element sub-blocks with signed 6-bit scales (low
/// nibbles, then the top two bits of each), 3-bit codes (two low bits plus a high-bit mask) minus 4.
/// </summary>
[QuantFormat("q3_K", Uqff = UqffLayer.Gguf, GgufType = 11, VecDotType = "q8_K", Description = "ggml Q3_K: 256 x 3-bit, 6-bit sub-scales")]
[Block(256, SubBlock = 16)]
[HighBits(1, Name = "hmask", Packing = Packing.Sliced, Stride = 32)]
[Codes(2, Packing = Packing.Sliced, Stride = 32)]
[SubScales(4, Packing = Packing.Sliced, Stride = 8, Offset = 32)]
[SubScaleHighBits(2, Packing = Packing.Sliced, Stride = 4)]
[Scale(ScaleCode.F16)]
[Integer(Offset = 4)]
[QuantRule("ggml", ScaleRule.GgmlKQuant, Default = true, Description = "ggml's q3_K search (weighted with an importance matrix), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q3_K;
