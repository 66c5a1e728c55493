namespace Quant.Kernels;

/// <summary>ggml's MXFP4 block record (GGUF type 39): an E8M0 byte, then 16 bytes of E2M1 codes, element j in the low nibble and j + 16 in the high nibble of byte j.</summary>
[QuantFormat("mxfp4_ggml", Uqff = UqffLayer.Gguf, GgufType = 39, VecDotType = "q8_0",
    Description = "ggml MXFP4: E8M0 + 32 x E2M1 in one 17-byte record")]
[Block(32)]
[Scale(ScaleCode.E8M0, Name = "e")]
[Codes(4, Packing = Packing.Sliced)]
[Minifloat(2, 1)]
[QuantRule("ocp", ScaleRule.SharedExponent, Default = true, Rounding = CodeRounding.NearestLowestCode, Description = "ggml's reference quantizer (the OCP MX rule, ties to the lowest code), bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Rounding = CodeRounding.NearestLowestCode, Description = "least squared error over the OCP exponent and its neighbours")]
public static partial class Mxfp4Ggml;
