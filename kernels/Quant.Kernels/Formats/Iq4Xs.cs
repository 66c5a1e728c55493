namespace Quant.Kernels;

/// <summary>
/// ggml's IQ4_XS: 256-element super-blocks of eight 32-element sub-blocks with 6-bit scales minus 32 (two
/// high bits in a 16-bit word, then four low bits each), 4-bit codes into IQ4_NL's table.
/// </summary>
[QuantFormat("iq4_xs", Uqff = UqffLayer.Gguf, GgufType = 23, VecDotType = "q8_K", Description = "ggml IQ4_XS: 256 x 4-bit non-linear, 6-bit sub-scales")]
[Block(256, SubBlock = 32)]
[Scale(ScaleCode.F16)]
[SubScaleHighBits(2, Packing = Packing.Sequential)]
[SubScales(4, Name = "scales_l", Packing = Packing.Sequential, Offset = 32)]
[Codes(4, Packing = Packing.Sliced, Stride = 16)]
[Codebook(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)]
[QuantRule("ggml", ScaleRule.GgmlIq4, Default = true, Description = "ggml's iq4_xs search (weighted with an importance matrix), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Iq4Xs;
