namespace Quant.Kernels;

/// <summary>ggml's IQ4_NL: 32 elements, an F16 scale, 4-bit codes into a non-linear table of integers.</summary>
[QuantFormat("iq4_nl", Uqff = UqffLayer.Gguf, GgufType = 20, VecDotType = "q8_0", Description = "ggml IQ4_NL: 32 x 4-bit non-linear, F16 scale")]
[Block(32)]
[Scale(ScaleCode.F16)]
[Codes(4, Packing = Packing.Sliced)]
[Codebook(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)]
[QuantRule("ggml", ScaleRule.GgmlIq4, Default = true, Description = "ggml_quantize_chunk's search (weighted with an importance matrix), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Iq4Nl;
