namespace Quant.CustomFormats.Tests.Formats;

/// <summary>
/// Signed 4-bit integers (two's complement, -8 to 7) packed high nibble first, as bitsandbytes packs, with an
/// F32 scale per 128 elements in a plane of its own (<c>absmax</c>): <c>y = q * amax / 7</c>.
/// </summary>
[QuantFormat("int4_hf", RecordPlane = "weight", Description = "test: 128 x int4 high nibble first, F32 scale plane")]
[Block(128)]
[Codes(4, Packing = Packing.SequentialHighFirst)]
[Integer(Signed = true)]
[Scale(ScaleCode.F32, Name = "absmax", Plane = "absmax")]
[QuantRule("absmax", ScaleRule.AbsMax, Description = "d = amax / 7; codes rounded half away from zero")]
public static partial class Int4HighFirst;
