namespace Quant.Kernels;

/// <summary>
/// ggml's Q6_K: 256-element super-blocks of sixteen 16-element sub-blocks with int8 scales, 6-bit codes
/// (four low bits in <c>ql</c>, two high bits in <c>qh</c>) minus 32.
/// </summary>
[QuantFormat("q6_K", Uqff = UqffLayer.Gguf, GgufType = 14, VecDotType = "q8_K", Description = "ggml Q6_K: 256 x 6-bit, int8 sub-scales")]
[Block(256, SubBlock = 16)]
[Codes(4, Name = "ql", Packing = Packing.Sliced, Stride = 64)]
[HighBits(2, Name = "qh", Packing = Packing.Sliced, Stride = 32)]
[SubScales(8, Signed = true)]
[Scale(ScaleCode.F16)]
[Integer(Offset = 32)]
[QuantRule("ggml", ScaleRule.GgmlKQuant, Default = true, Description = "ggml's q6_K search (weighted with an importance matrix), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q6_K;
