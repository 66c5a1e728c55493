namespace Quant.Kernels;

/// <summary>MLX affine quantization (AFQ, UQFF type 4): 4-bit codes packed LSB first across 32-bit words, groups of 32 with an F16 scale and bias: <c>y = scale * q + bias</c>.</summary>
[QuantFormat("afq4_g32", Uqff = UqffLayer.Afq, RecordPlane = "w_q", Description = "MLX AFQ: 4-bit, groups of 32, F16 scale and bias")]
[Block(32)]
[Codes(4, Packing = Packing.Sequential)]
[Integer]
[Scale(ScaleCode.F16, Name = "scale", Plane = "scales")]
[Min(ScaleCode.F16, Name = "bias", Plane = "biases")]
[QuantRule("mlx", ScaleRule.Affine, Default = true, Description = "MLX's affine_quantize")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Afq4G32;
