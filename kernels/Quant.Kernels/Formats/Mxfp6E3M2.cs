namespace Quant.Kernels;

/// <summary>
/// OCP MX 6_e3m2: blocks of 32 E3M2 elements sharing an E8M0 scale (OCP Microscaling Formats 1.0),
/// as two planes: the 6-bit codes, LSB first, then one scale byte per block.
/// </summary>
[QuantFormat("mxfp6_e3m2", Description = "OCP MX: 32 x E3M2, E8M0 scale")]
[Block(32)]
[Codes(6, Packing = Packing.Sequential)]
[Minifloat(3, 2, Specials = MinifloatSpecials.None)]
[Scale(ScaleCode.E8M0, Plane = "scales")]
[QuantRule("ocp", ScaleRule.SharedExponent, Default = true, Description = "OCP MX 1.0: shared exponent, elements rounded to nearest even, saturating")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error over the OCP exponent and its neighbours")]
public static partial class Mxfp6E3M2;
