namespace Quant.Kernels;

/// <summary>
/// NVIDIA's NVFP4 in the ModelOpt checkpoint layout: <c>weight</c> U8 <c>[N, K/2]</c> of E2M1 codes (element 2i
/// in the low nibble), <c>weight_scale</c> F8E4M3 <c>[N, K/16]</c> block scales, and <c>weight_scale_2</c>, one
/// F32 scale for the tensor: <c>y = e2m1 * (e4m3 * weight_scale_2)</c>.
/// </summary>
[QuantFormat("nvfp4", RecordPlane = "weight", Description = "NVFP4: 16 x E2M1, E4M3 block scale, F32 tensor scale")]
[Block(16)]
[Codes(4, Packing = Packing.Sequential)]
[Minifloat(2, 1)]
[Scale(ScaleCode.E4M3, Name = "weight_scale", Plane = "weight_scale")]
[TensorScale(ScaleCode.F32, Plane = "weight_scale_2")]
[QuantRule("modelopt", ScaleRule.AbsMax, Default = true, Description = "ModelOpt: block amax / 6 over the tensor scale in E4M3, elements to nearest even E2M1")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Nvfp4;
