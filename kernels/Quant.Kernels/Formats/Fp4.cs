namespace Quant.Kernels;

/// <summary>
/// bitsandbytes' FP4: an E2M1-like table normalised to a largest magnitude of 1 (its kernels' values),
/// sign in bit 3; 64 elements share an F32 absmax; two codes per byte, the first in the high nibble.
/// </summary>
[QuantFormat("fp4", RecordPlane = "weight", Description = "bitsandbytes FP4: 64 x 4-bit float, F32 absmax")]
[Block(64)]
[Codes(4, Packing = Packing.SequentialHighFirst)]
[Codebook(0f, 0.005208333333f, 0.66666667f, 1f, 0.33333333f, 0.5f, 0.16666667f, 0.25f,
    -0f, -0.005208333333f, -0.66666667f, -1f, -0.33333333f, -0.5f, -0.16666667f, -0.25f)]
[Scale(ScaleCode.F32, Name = "absmax", Plane = "absmax")]
[QuantRule("bnb", ScaleRule.AbsMax, Default = true, Description = "bitsandbytes: absmax scale, nearest magnitude (ties to the lower one), sign of the element")]
[QuantRule("mse", ScaleRule.ErrorMinimizing, Description = "least squared error: the default rule, then refits that lower it (never worse)")]
public static partial class Fp4;
