namespace Quant.CustomFormats.Tests.Formats;

/// <summary>
/// A 3-bit codebook format the catalogue does not have: 16 elements share an F16 scale (the block's largest
/// magnitude), and each element indexes an 8-entry normal-float-like table. The codes are one LSB-first bit
/// stream, so most of them straddle a byte boundary (element 2 is bits 6-8). Record: d at byte 0, 6 bytes of
/// codes; 4 bits per weight. It takes a private ggml type id so that it has a UQFF layer (Gguf) to round trip.
/// </summary>
[QuantFormat("nf3_f16", Uqff = UqffLayer.Gguf, GgufType = 1003, Description = "test: 16 x 3-bit codebook, F16 scale")]
[Block(16)]
[Scale(ScaleCode.F16)]
[Codes(3, Packing = Packing.Sequential)]
[Codebook(-1f, -0.535f, -0.2469f, 0f, 0.1833f, 0.3819f, 0.6229f, 1f)]
[QuantRule("absmax", ScaleRule.AbsMax, Description = "the block's largest magnitude is the scale; nearest table entry")]
public static partial class Nf3F16;
