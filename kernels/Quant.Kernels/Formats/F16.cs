namespace Quant.Kernels;

/// <summary>IEEE binary16 weights (ggml's F16, GGUF type 1): one 16-bit code per element, no scale.</summary>
[QuantFormat("f16", Uqff = UqffLayer.Gguf, GgufType = 1, Description = "IEEE binary16")]
[Block(1)]
[Codes(16)]
[Minifloat(5, 10, Specials = MinifloatSpecials.Ieee)]
[QuantRule("ieee", ScaleRule.RoundToNearest, Overflow = Numerics.MinifloatOverflow.Infinity, Description = "round to nearest even; overflow to infinity (ggml's converter)")]
public static partial class F16;
