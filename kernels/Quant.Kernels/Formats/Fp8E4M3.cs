namespace Quant.Kernels;

/// <summary>
/// FP8 E4M3 weights with one F32 scale for the tensor: mistral.rs' FP8Linear (UQFF type 3), and the
/// per-tensor FP8 checkpoints (<c>weight</c> F8E4M3, <c>weight_scale</c> F32): <c>y = e4m3 * scale</c>.
/// </summary>
[QuantFormat("fp8_e4m3", Uqff = UqffLayer.Fp8, RecordPlane = "weight", Description = "FP8 E4M3, one F32 scale per tensor")]
[Block(1)]
[Codes(8)]
[Minifloat(4, 3, Specials = MinifloatSpecials.NanOnly)]
[TensorScale(ScaleCode.F32, Plane = "weight_scale")]
[QuantRule("absmax", ScaleRule.RoundToNearest, Description = "the tensor's largest magnitude maps to 448; elements round to nearest even, saturating")]
public static partial class Fp8E4M3;
