namespace Quant.CustomFormats.Tests.Formats;

/// <summary>
/// OCP's E3M2 elements under an F16 scale instead of MX's E8M0 exponent: 64 elements per block, the scale is
/// the block's largest magnitude over 28 (E3M2's largest value), elements round to nearest even. Record: d at
/// byte 0, then 48 bytes of 6-bit codes as an LSB-first bit stream; 6.25 bits per weight.
/// </summary>
[QuantFormat("e3m2_f16", Description = "test: 64 x E3M2, F16 scale")]
[Block(64)]
[Scale(ScaleCode.F16)]
[Codes(6, Packing = Packing.Sequential)]
[Minifloat(3, 2)]
[QuantRule("absmax", ScaleRule.AbsMax, Description = "d = amax / 28; elements to nearest even E3M2")]
public static partial class E3M2F16;
