namespace Quant.Kernels;

/// <summary>
/// bitsandbytes' NF4 (QLoRA's 4-bit NormalFloat): 64 elements share an F32 absmax (plane <c>absmax</c>),
/// codes index the NF4 table, two per byte with the first element in the high nibble (plane <c>weight</c>).
/// A double-quantized absmax is read and written by the bitsandbytes checkpoint adapter.
/// </summary>
[QuantFormat("nf4", RecordPlane = "weight", Description = "bitsandbytes NF4: 64 x 4-bit NormalFloat, F32 absmax")]
[Block(64)]
[Codes(4, Packing = Packing.SequentialHighFirst)]
[Codebook(-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f)]
[Scale(ScaleCode.F32, Name = "absmax", Plane = "absmax")]
[QuantRule("bnb", ScaleRule.AbsMax, Default = true, Description = "bitsandbytes: absmax scale, nearest code, ties to the lower value")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Nf4;
