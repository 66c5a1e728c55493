namespace Quant.Kernels;

/// <summary>ggml's Q8_K: 256 int8 values, an F32 scale and int16 sums of each 16: the activation format of K-quant dot products.</summary>
[QuantFormat("q8_K", Uqff = UqffLayer.Gguf, GgufType = 15, Description = "ggml Q8_K: 256 x int8, F32 scale, 16 int16 sums")]
[Block(256)]
[Scale(ScaleCode.F32)]
[Codes(8)]
[GroupSums(16)]
[Integer(Signed = true)]
[QuantRule("ggml", ScaleRule.ReciprocalSignedMax, Default = true, Description = "ggml's reference quantizer, bit for bit")]
public static partial class Q8_K;
