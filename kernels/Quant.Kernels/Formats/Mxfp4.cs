namespace Quant.Kernels;

/// <summary>
/// MXFP4 in the GPT-OSS / mistral.rs checkpoint layout: a blocks plane <c>[N, K/2]</c> of E2M1 codes,
/// element 2i in the low nibble and 2i + 1 in the high nibble of byte i, then a scales plane
/// <c>[N, K/32]</c> of E8M0 exponents. The default rule is the OCP MX rule, which ggml uses: it clips
/// less than mistral.rs' rule and has the lower error (docs/FORMATS.md gives the figures).
/// </summary>
[QuantFormat("mxfp4", Uqff = UqffLayer.Mxfp4, Description = "OCP MXFP4, checkpoint layout: E2M1 blocks plane + E8M0 scales plane")]
[Block(32)]
[Codes(4, Packing = Packing.Sequential)]
[Minifloat(2, 1)]
[Scale(ScaleCode.E8M0, Plane = "scales")]
[QuantRule("ocp", ScaleRule.SharedExponent, Default = true, Rounding = CodeRounding.NearestLowestCode, Description = "OCP MX 1.0 shared exponent with ggml's rounding (ties to the lowest code)")]
[QuantRule("mistralrs", ScaleRule.SharedExponentMistralRs, Description = "mistral.rs' MXFP4Layer::quantize, bit for bit")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Rounding = CodeRounding.NearestLowestCode, Description = "least squared error over the OCP exponent and its neighbours")]
public static partial class Mxfp4;
