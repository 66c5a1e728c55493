namespace Quant.Kernels;

/// <summary>
/// ggml's Q2_K: 256-element super-blocks of sixteen 16-element sub-blocks, each with a 4-bit scale and a
/// 4-bit min (one byte, min in the high nibble), 2-bit codes; <c>y = (d * sc) * q - (dmin * m)</c>.
/// </summary>
[QuantFormat("q2_K", Uqff = UqffLayer.Gguf, GgufType = 10, VecDotType = "q8_K", Description = "ggml Q2_K: 256 x 2-bit, 4-bit sub-scales and mins")]
[Block(256, SubBlock = 16)]
[SubScales(4, Packing = Packing.Sliced, Stride = 16, WithMins = true)]
[Codes(2, Packing = Packing.Sliced, Stride = 32)]
[Integer]
[Scale(ScaleCode.F16)]
[Min(ScaleCode.F16, Name = "dmin", Mode = MinMode.SubtractScaled)]
[QuantRule("ggml", ScaleRule.GgmlKQuant, Default = true, Description = "ggml's q2_K search (weighted with an importance matrix), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q2_K;
