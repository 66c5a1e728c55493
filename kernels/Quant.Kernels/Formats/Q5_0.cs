namespace Quant.Kernels;

/// <summary>ggml's Q5_0: 32 elements, an F16 scale, 5-bit codes minus 16: the fifth bits in a 32-bit word before the nibbles.</summary>
[QuantFormat("q5_0", Uqff = UqffLayer.Gguf, GgufType = 6, VecDotType = "q8_0",
    Description = "ggml Q5_0: 32 x 5-bit, F16 scale")]
[Block(32)]
[Scale(ScaleCode.F16)]
[HighBits(1, Name = "qh", Packing = Packing.Sequential)]
[Codes(4, Packing = Packing.Sliced)]
[Integer(Offset = 16)]
[QuantRule("ggml", ScaleRule.SignedMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Q5_0;
