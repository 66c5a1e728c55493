using Quant;

namespace CustomFormat;

/// <summary>
/// A 3-bit affine format that neither ggml nor the Quant catalogue has: 32 elements share an F16 scale
/// <c>d</c> and an F16 minimum <c>m</c>, and each element is <c>d * q + m</c> with <c>q</c> in 0 to 7.
/// Record (16 bytes, 4 bits per weight): <c>d</c> at byte 0, <c>m</c> at byte 2, then 12 bytes of codes
/// as one LSB-first bit stream, so most codes straddle a byte. The GGUF type id 4003 is private to this
/// sample; it gives the format a UQFF layer (type Gguf) to write and read.
/// </summary>
[QuantFormat("q3_affine", Uqff = UqffLayer.Gguf, GgufType = 4003, Description = "sample: 32 x 3-bit unsigned, F16 scale and minimum")]
[Block(32)]
[Scale(ScaleCode.F16)]
[Min(ScaleCode.F16)]
[Codes(3, Packing = Packing.Sequential)]
[Integer]
[QuantRule("minmax", ScaleRule.MinMax, Description = "d = (max - min) / 7, m = min, codes rounded to nearest")]
public static partial class Q3Affine;
