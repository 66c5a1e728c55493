namespace Quant.Kernels;

/// <summary>
/// OCP MX 6_e2m3: blocks of 32 E2M3 elements sharing an E8M0 scale (OCP Microscaling Formats 1.0),
/// as two planes: the 6-bit codes, LSB first, then one scale byte per block.
/// </summary>
[QuantFormat("mxfp6_e2m3", Description = "OCP MX: 32 x E2M3, E8M0 scale")]
[Block(32)]
[Codes(6, Packing = Packing.Sequential)]
[Minifloat(2, 3, Specials = MinifloatSpecials.None)]
[Scale(ScaleCode.E8M0, Plane = "scales")]
[QuantRule("ocp", ScaleRule.SharedExponent, Default = true, Description = "OCP MX 1.0: shared exponent, elements rounded to nearest even, saturating")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error over the OCP exponent and its neighbours")]
public static partial class Mxfp6E2M3;
