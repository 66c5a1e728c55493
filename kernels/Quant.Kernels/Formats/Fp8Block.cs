namespace Quant.Kernels;

/// <summary>
/// Blockwise FP8 (DeepSeek-V3, Qwen3-FP8 checkpoints): <c>weight</c> F8E4M3 <c>[N, K]</c> and <c>weight_scale_inv</c>
/// F32 <c>[ceil(N/128), K/128]</c>, one scale per 128 x 128 tile: <c>y = e4m3 * scale</c>. K must be a multiple of 128.
/// </summary>
[QuantFormat("fp8_block", RecordPlane = "weight", Description = "FP8 E4M3, one F32 scale per 128 x 128 tile")]
[Block(128, Rows = 128)]
[Codes(8)]
[Minifloat(4, 3, Specials = MinifloatSpecials.NanOnly)]
[Scale(ScaleCode.F32, Name = "weight_scale_inv", Plane = "weight_scale_inv")]
[QuantRule("absmax", ScaleRule.AbsMax, Description = "each tile's largest magnitude maps to 448; elements round to nearest even, saturating")]
public static partial class Fp8Block;
