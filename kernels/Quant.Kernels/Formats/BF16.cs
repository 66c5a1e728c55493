namespace Quant.Kernels;

/// <summary>bfloat16 weights (ggml's BF16, GGUF type 30): the top 16 bits of a float32, rounded to nearest even.</summary>
[QuantFormat("bf16", Uqff = UqffLayer.Gguf, GgufType = 30, Description = "bfloat16")]
[Block(1)]
[Codes(16)]
[Minifloat(8, 7, Specials = MinifloatSpecials.Ieee)]
[QuantRule("ieee", ScaleRule.RoundToNearest, Overflow = Numerics.MinifloatOverflow.Infinity, Description = "round to nearest even, NaN kept quiet (ggml's converter)")]
public static partial class BF16;
