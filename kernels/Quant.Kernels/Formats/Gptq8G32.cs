namespace Quant.Kernels;

/// <summary>
/// GPTQ checkpoints repacked row-major (Quant.Runtime's <c>GptqCheckpoint</c> reads and writes them): 8-bit codes packed LSB first
/// along each output row, groups of 32 input columns with an F16 scale and an F16 integer-valued zero point: <c>y = (q - z) * s</c>.
/// </summary>
[QuantFormat("gptq8_g32", RecordPlane = "codes", Description = "GPTQ repacked: 8-bit, groups of 32, F16 scale and zero point")]
[Block(32)]
[Codes(8, Packing = Packing.Sequential)]
[Integer]
[Scale(ScaleCode.F16, Name = "scale", Plane = "scales")]
[Min(ScaleCode.F16, Name = "zero", Mode = MinMode.ZeroPoint, Plane = "zeros")]
[QuantRule("rtn", ScaleRule.ZeroPointMinMax, Default = true, RoundZeroPoint = true,
    Description = "round to nearest with an integer zero point (GPTQ's and AWQ's starting point, without their calibration)")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then least-squares refits of the scale and zero point that lower it (never worse)")]
public static partial class Gptq8G32;
