namespace Quant.Kernels;

/// <summary>ggml's Q4_1: 32 elements, an F16 scale and an F16 minimum, 4-bit unsigned codes (<c>y = q * d + m</c>).</summary>
[QuantFormat("q4_1", Uqff = UqffLayer.Gguf, GgufType = 3, VecDotType = "q8_1",
    Description = "ggml Q4_1: 32 x 4-bit, F16 scale and min")]
[Block(32)]
[Scale(ScaleCode.F16)]
[Min(ScaleCode.F16)]
[Codes(4, Packing = Packing.Sliced)]
[Integer]
[QuantRule("ggml", ScaleRule.MinMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q4_1;
