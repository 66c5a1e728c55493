namespace Quant.Kernels;

/// <summary>ggml's Q8_0: 32 elements, an F16 scale, signed 8-bit codes.</summary>
[QuantFormat("q8_0", Uqff = UqffLayer.Gguf, GgufType = 8, VecDotType = "q8_0",
    Description = "ggml Q8_0: 32 x int8, F16 scale")]
[Block(32)]
[Scale(ScaleCode.F16)]
[Codes(8)]
[Integer(Signed = true)]
[QuantRule("ggml", ScaleRule.AbsMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q8_0;
