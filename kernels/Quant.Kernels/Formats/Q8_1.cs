namespace Quant.Kernels;

/// <summary>ggml's Q8_1: Q8_0 plus <c>s = d * sum(q)</c>, the activation format of q4_1 / q5_1 dot products.</summary>
[QuantFormat("q8_1", Uqff = UqffLayer.Gguf, GgufType = 9, Description = "ggml Q8_1: 32 x int8, F16 scale and scaled sum")]
[Block(32)]
[Scale(ScaleCode.F16)]
[BlockSum(ScaleCode.F16)]
[Codes(8)]
[Integer(Signed = true)]
[QuantRule("ggml", ScaleRule.AbsMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
public static partial class Q8_1;
