namespace Quant.Kernels;

/// <summary>ggml's Q4_0: 32 elements, an F16 scale, 4-bit codes minus 8; element j in the low nibble and j + 16 in the high nibble of byte j.</summary>
[QuantFormat("q4_0", Uqff = UqffLayer.Gguf, GgufType = 2, VecDotType = "q8_0",
    Description = "ggml Q4_0: 32 x 4-bit, F16 scale")]
[Block(32)]
[Scale(ScaleCode.F16)]
[Codes(4, Packing = Packing.Sliced)]
[Integer(Offset = 8)]
[QuantRule("ggml", ScaleRule.SignedMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q4_0;
