namespace Quant.Kernels;

/// <summary>ggml's Q5_1: 32 elements, an F16 scale and an F16 minimum, 5-bit unsigned codes (fifth bits in a 32-bit word).</summary>
[QuantFormat("q5_1", Uqff = UqffLayer.Gguf, GgufType = 7, VecDotType = "q8_1",
    Description = "ggml Q5_1: 32 x 5-bit, F16 scale and min")]
[Block(32)]
[Scale(ScaleCode.F16)]
[Min(ScaleCode.F16)]
[HighBits(1, Name = "qh", Packing = Packing.Sequential)]
[Codes(4, Packing = Packing.Sliced)]
[Integer]
[QuantRule("ggml", ScaleRule.MinMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q5_1;
