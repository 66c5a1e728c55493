namespace Quant.Kernels;

/// <summary>MLX affine quantization (AFQ, UQFF type 4): 2-bit codes packed LSB first across 32-bit words, groups of 64 with an F16 scale and bias: <c>y = scale * q + bias</c>.</summary>
[QuantFormat("afq2_g64", Uqff = UqffLayer.Afq, RecordPlane = "w_q", Description = "MLX AFQ: 2-bit, groups of 64, F16 scale and bias")]
[Block(64)]
[Codes(2, Packing = Packing.Sequential)]
[Integer]
[Scale(ScaleCode.F16, Name = "scale", Plane = "scales")]
[Min(ScaleCode.F16, Name = "bias", Plane = "biases")]
[QuantRule("mlx", ScaleRule.Affine, Default = true, Description = "MLX's affine_quantize")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Afq2G64;
