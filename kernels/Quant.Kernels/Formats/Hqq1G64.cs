namespace Quant.Kernels;

/// <summary>
/// HQQ (UQFF type 2) as mistral.rs quantizes and stores it: 1-bit codes in groups of 64 along a row (HQQ's axis 1),
/// an F32 scale and zero point per group: <c>y = (q - zero) * scale</c>. The UQFF codec packs the codes along the
/// output dimension, as mistral.rs does; here each row's codes are contiguous, LSB first.
/// </summary>
[QuantFormat("hqq1_g64", Uqff = UqffLayer.Hqq, RecordPlane = "w_q", Description = "HQQ: 1-bit, groups of 64, F32 scale and zero point")]
[Block(64)]
[Codes(1, Packing = Packing.Sequential)]
[Integer]
[Scale(ScaleCode.F32, Name = "scale", Plane = "scales")]
[Min(ScaleCode.F32, Name = "zero", Mode = MinMode.ZeroPoint, Plane = "zeros")]
[QuantRule("hqq", ScaleRule.HalfQuadratic, Default = true, Steps = 10, Description = "mistral.rs' in-situ HQQ: the min/max zero point, then 10 half-quadratic proximal steps on it")]
[QuantRule("hqq_round_zeros", ScaleRule.HalfQuadratic, Steps = 10, RoundZeroPoint = true, Description = "the same with round_zeros: the starting zero point rounded to an integer")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then least-squares refits of the scale and zero point that lower it (never worse)")]
public static partial class Hqq1G64;
