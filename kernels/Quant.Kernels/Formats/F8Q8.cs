namespace Quant.Kernels;

/// <summary>
/// mistral.rs' F8Q8 (UQFF type 5): 33-byte blocks of 32, an E4M3 byte holding <c>d * 448</c> then 32 signed
/// 8-bit codes: <c>y = q * (e4m3 / 448)</c>.
/// </summary>
[QuantFormat("f8q8", Uqff = UqffLayer.F8Q8, Description = "mistral.rs F8Q8: 32 x int8, E4M3 scale")]
[Block(32)]
[Scale(ScaleCode.E4M3, Divisor = 448f)]
[Codes(8)]
[Integer(Signed = true)]
[QuantRule("mistralrs", ScaleRule.AbsMax, Default = true, Description = "d = amax / 127, codes round half away from zero (mistral.rs' from_float)")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class F8Q8;
