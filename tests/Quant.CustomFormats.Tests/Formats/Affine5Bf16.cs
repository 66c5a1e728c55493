namespace Quant.CustomFormats.Tests.Formats;

/// <summary>
/// A 5-bit unsigned affine format the catalogue does not have, in a checkpoint-style layout of three planes:
/// <c>qweight</c> (32 codes of 5 bits as one LSB-first bit stream, 20 bytes per block), <c>scales</c> (one BF16
/// per block) and <c>biases</c> (one BF16 minimum per block): <c>y = d * q + m</c>, with the MinMax rule.
/// </summary>
[QuantFormat("affine5_bf16", RecordPlane = "qweight", Description = "test: 32 x 5-bit unsigned, BF16 scale and BF16 minimum planes")]
[Block(32)]
[Codes(5, Packing = Packing.Sequential)]
[Integer]
[Scale(ScaleCode.BF16, Name = "scales", Plane = "scales")]
[Min(ScaleCode.BF16, Name = "biases", Plane = "biases")]
[QuantRule("minmax", ScaleRule.MinMax, Description = "d = (max - min) / 31, m = min")]
public static partial class Affine5Bf16;
