using System;
using Quant.Numerics;

namespace Quant.Quantization;

/// <summary>
/// ggml's quantizers for the K-quant super-blocks (256 values): q2_K, q3_K, q4_K, q5_K, q6_K and the
/// activation format q8_K, as <c>ggml_quantize_chunk</c> runs them. Without an importance matrix they are
/// the row reference quantizers <c>quantize_row_X_ref</c>; with one, the weighted searches
/// <c>quantize_row_X_impl</c>. Results are logical values in element order (no packing): codes, the
/// integer scale (and min) codes of the sub-blocks, and the super-scales as the block stores them
/// (f16-rounded, except q8_K's float32 d).
/// </summary>
/// <remarks>
/// Every quantizer ends as ggml does: the sub-block scale codes and the super-scales are fixed first, and
/// then every code is recomputed from the <b>stored</b> (f16-rounded) super-scale and the integer scale
/// code. A sub-block whose stored scale works out to exactly 0 keeps the codes of its search instead.
/// </remarks>
public static class GgmlKQuants
{
    /// <summary>The number of values in a K-quant super-block.</summary>
    public const int SuperBlockSize = 256;

    /// <summary>
    /// q2_K: value = (d * scale_g) * code - (dmin * min_g) for 16 groups g of 16 values; codes 0..3, scale
    /// and min codes 0..15.
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="importance">The importance of its 256 columns, or empty for none.</param>
    /// <param name="codes">Receives 256 codes, 0..3.</param>
    /// <param name="scales">Receives 16 scale codes, 0..15 (the low nibble of ggml's scale byte).</param>
    /// <param name="mins">Receives 16 min codes, 0..15 (the high nibble).</param>
    /// <param name="d">The super-scale of the scales as stored (f16-rounded).</param>
    /// <param name="dmin">The super-scale of the mins as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeQ2K(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes,
        Span<byte> scales, Span<byte> mins, out float d, out float dmin)
    {
        CheckSuperBlock(x, importance, codes.Length);
        CheckLength(scales.Length, 16, nameof(scales));
        CheckLength(mins.Length, 16, nameof(mins));

        Span<float> groupScales = stackalloc float[16];
        Span<float> groupMins = stackalloc float[16];
        Span<float> weights = stackalloc float[16];
        // ggml's scale byte per group: scale code in the low nibble, min code in the high one.
        Span<byte> scaleBytes = stackalloc byte[16];
        float storedD, storedDmin;

        if (importance.IsEmpty)
        {
            // quantize_row_q2_K_ref: |x| weights, absolute-error fit, then scales and mins on a linear 4-bit grid.
            float maxScale = 0f, maxMin = 0f;
            for (int g = 0; g < 16; g++)
            {
                ReadOnlySpan<float> xg = x.Slice(16 * g, 16);
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(xg[l]);
                groupScales[g] = GgmlSearch.MakeQkxQuants(xg, 3, weights, codes.Slice(16 * g, 16), out groupMins[g], -0.5f, 0.1f, 15, useMad: true);
                if (groupScales[g] > maxScale) maxScale = groupScales[g];
                if (groupMins[g] > maxMin) maxMin = groupMins[g];
            }
            scaleBytes.Clear();
            storedD = 0f;
            storedDmin = 0f;
            if (maxScale > 0f)
            {
                float iscale = 15f / maxScale;
                for (int g = 0; g < 16; g++) scaleBytes[g] = (byte)QuantMath.NearestInt(iscale * groupScales[g]);
                storedD = GgmlSearch.RoundToF16(maxScale / 15f);
            }
            if (maxMin > 0f)
            {
                float iscale = 15f / maxMin;
                for (int g = 0; g < 16; g++) scaleBytes[g] |= (byte)(QuantMath.NearestInt(iscale * groupMins[g]) << 4);
                storedDmin = GgmlSearch.RoundToF16(maxMin / 15f);
            }
        }
        else
        {
            // quantize_row_q2_K_impl: imatrix weights (note sigma2 is the plain mean square here, not twice it).
            float sigma2 = GgmlSearch.SumOfSquares(x) / SuperBlockSize;
            Span<float> groupWeights = stackalloc float[16];
            for (int g = 0; g < 16; g++)
            {
                ReadOnlySpan<float> xg = x.Slice(16 * g, 16);
                GgmlSearch.SigmaWeights(xg, importance.Slice(16 * g, 16), sigma2, weights);
                groupWeights[g] = GgmlSearch.Sum(weights);
                groupScales[g] = GgmlSearch.MakeQkxQuants(xg, 3, weights, codes.Slice(16 * g, 16), out groupMins[g], -0.9f, 0.05f, 36, useMad: false);
            }
            Span<byte> scaleCodes = stackalloc byte[16];
            Span<byte> minCodes = stackalloc byte[16];
            float dm = GgmlSearch.MakeQpQuants(groupScales, 15, scaleCodes, groupWeights);
            float mm = GgmlSearch.MakeQpQuants(groupMins, 15, minCodes, groupWeights);
            storedD = GgmlSearch.RoundToF16(dm);
            storedDmin = GgmlSearch.RoundToF16(mm);
            for (int g = 0; g < 16; g++) scaleBytes[g] = (byte)(scaleCodes[g] | (minCodes[g] << 4));
        }

        for (int g = 0; g < 16; g++)
        {
            float dg = storedD * (scaleBytes[g] & 0xF);
            if (dg == 0f) continue;
            float mg = storedDmin * (scaleBytes[g] >> 4);
            for (int i = 16 * g; i < 16 * g + 16; i++) codes[i] = (byte)Math.Clamp(QuantMath.NearestInt((x[i] + mg) / dg), 0, 3);
        }
        for (int g = 0; g < 16; g++)
        {
            scales[g] = (byte)(scaleBytes[g] & 0xF);
            mins[g] = (byte)(scaleBytes[g] >> 4);
        }
        d = storedD;
        dmin = storedDmin;
    }

    /// <summary>
    /// q3_K: value = (d * (scale_g - 32)) * (code - 4) for 16 groups g of 16 values; codes 0..7 (low two
    /// bits | high bit &lt;&lt; 2), scale codes 0..63.
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="importance">The importance of its 256 columns, or empty for none.</param>
    /// <param name="codes">Receives 256 codes, 0..7 (value = code - 4).</param>
    /// <param name="scales">Receives 16 six-bit scale codes, 0..63 (signed scale = code - 32).</param>
    /// <param name="d">The super-scale as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeQ3K(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes,
        Span<byte> scales, out float d)
    {
        CheckSuperBlock(x, importance, codes.Length);
        CheckLength(scales.Length, 16, nameof(scales));

        Span<float> groupScales = stackalloc float[16];
        float storedD;
        if (importance.IsEmpty)
        {
            // quantize_row_q3_K_ref: per-group coordinate descent, then the largest-magnitude group scale maps to -32.
            float maxScale = 0f, amax = 0f;
            for (int g = 0; g < 16; g++)
            {
                groupScales[g] = GgmlSearch.MakeQ3Quants(x.Slice(16 * g, 16), 4, codes.Slice(16 * g, 16));
                float scale = MathF.Abs(groupScales[g]);
                if (scale > amax)
                {
                    amax = scale;
                    maxScale = groupScales[g];
                }
            }
            if (maxScale != 0f)
            {
                float iscale = -32f / maxScale;
                for (int g = 0; g < 16; g++)
                {
                    // ggml stores nearest_int into an int8_t before clamping it.
                    sbyte l = (sbyte)QuantMath.NearestInt(iscale * groupScales[g]);
                    scales[g] = (byte)(Math.Clamp((int)l, -32, 31) + 32);
                }
                storedD = GgmlSearch.RoundToF16(1f / iscale);
            }
            else
            {
                // All scale bytes zero: every code reads as 0, i.e. a signed scale of -32 times d = 0.
                scales[..16].Clear();
                storedD = 0f;
            }
        }
        else
        {
            // quantize_row_q3_K_impl: weighted make_qx_quants per group, then again over the 16 group scales.
            float sigma2 = 2 * GgmlSearch.SumOfSquares(x) / SuperBlockSize;
            Span<float> weights = stackalloc float[16];
            Span<float> groupWeights = stackalloc float[16];
            for (int g = 0; g < 16; g++)
            {
                ReadOnlySpan<float> xg = x.Slice(16 * g, 16);
                GgmlSearch.SigmaWeights(xg, importance.Slice(16 * g, 16), sigma2, weights);
                groupWeights[g] = GgmlSearch.Sum(weights);
                groupScales[g] = GgmlSearch.MakeQxQuants(xg, 4, weights, codes.Slice(16 * g, 16));
            }
            float blockScale = GgmlSearch.MakeQxQuants(groupScales, 32, groupWeights, scales);
            storedD = GgmlSearch.RoundToF16(blockScale);
        }

        for (int g = 0; g < 16; g++)
        {
            float dg = storedD * (scales[g] - 32);
            if (dg == 0f) continue;
            for (int i = 16 * g; i < 16 * g + 16; i++) codes[i] = (byte)(Math.Clamp(QuantMath.NearestInt(x[i] / dg), -4, 3) + 4);
        }
        d = storedD;
    }

    /// <summary>
    /// q4_K: value = (d * scale_j) * code - (dmin * min_j) for 8 sub-blocks j of 32 values; codes 0..15,
    /// scale and min codes 0..63.
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="importance">The importance of its 256 columns, or empty for none.</param>
    /// <param name="codes">Receives 256 codes, 0..15.</param>
    /// <param name="scales">Receives 8 six-bit scale codes, 0..63.</param>
    /// <param name="mins">Receives 8 six-bit min codes, 0..63.</param>
    /// <param name="d">The super-scale of the scales as stored (f16-rounded).</param>
    /// <param name="dmin">The super-scale of the mins as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeQ4K(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes,
        Span<byte> scales, Span<byte> mins, out float d, out float dmin)
        => QuantizeScaleMinK(x, importance, 15, codes, scales, mins, out d, out dmin);

    /// <summary>
    /// q5_K: value = (d * scale_j) * code - (dmin * min_j) for 8 sub-blocks j of 32 values; codes 0..31,
    /// scale and min codes 0..63.
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="importance">The importance of its 256 columns, or empty for none.</param>
    /// <param name="codes">Receives 256 codes, 0..31 (low four bits in qs, the fifth in qh).</param>
    /// <param name="scales">Receives 8 six-bit scale codes, 0..63.</param>
    /// <param name="mins">Receives 8 six-bit min codes, 0..63.</param>
    /// <param name="d">The super-scale of the scales as stored (f16-rounded).</param>
    /// <param name="dmin">The super-scale of the mins as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeQ5K(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes,
        Span<byte> scales, Span<byte> mins, out float d, out float dmin)
        => QuantizeScaleMinK(x, importance, 31, codes, scales, mins, out d, out dmin);

    /// <summary>
    /// q6_K: value = (d * scale_g) * (code - 32) for 16 groups g of 16 values; codes 0..63, int8 scales.
    /// A super-block whose every group scale is below 1e-15 is stored as zero bytes: d = 0, scales 0 and
    /// codes 0 (value -32 * 0).
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="importance">The importance of its 256 columns, or empty for none.</param>
    /// <param name="codes">Receives 256 codes, 0..63 (value = code - 32).</param>
    /// <param name="scales">Receives 16 signed 8-bit scales (-128..127).</param>
    /// <param name="d">The super-scale as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeQ6K(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes,
        Span<sbyte> scales, out float d)
    {
        CheckSuperBlock(x, importance, codes.Length);
        CheckLength(scales.Length, 16, nameof(scales));

        // quantize_row_q6_K_ref weighs by x^2; quantize_row_q6_K_impl by the raw importance (no sigma2 term).
        Span<float> groupScales = stackalloc float[16];
        float maxScale = 0f, maxAbsScale = 0f;
        for (int g = 0; g < 16; g++)
        {
            ReadOnlySpan<float> weights = importance.IsEmpty ? default : importance.Slice(16 * g, 16);
            groupScales[g] = GgmlSearch.MakeQxQuants(x.Slice(16 * g, 16), 32, weights, codes.Slice(16 * g, 16));
            float absScale = MathF.Abs(groupScales[g]);
            if (absScale > maxAbsScale)
            {
                maxAbsScale = absScale;
                maxScale = groupScales[g];
            }
        }
        if (maxAbsScale < GgmlSearch.GroupMaxEps)
        {
            codes[..SuperBlockSize].Clear();
            scales[..16].Clear();
            d = 0f;
            return;
        }

        float iscale = -128f / maxScale;
        float storedD = GgmlSearch.RoundToF16(1f / iscale);
        for (int g = 0; g < 16; g++) scales[g] = (sbyte)Math.Min(127, QuantMath.NearestInt(iscale * groupScales[g]));
        for (int g = 0; g < 16; g++)
        {
            float dg = storedD * scales[g];
            if (dg == 0f) continue;
            for (int i = 16 * g; i < 16 * g + 16; i++) codes[i] = (byte)(Math.Clamp(QuantMath.NearestInt(x[i] / dg), -32, 31) + 32);
        }
        d = storedD;
    }

    /// <summary>
    /// q8_K (<c>quantize_row_q8_K_ref</c>): q = min(127, nearest_int(-127 / max * x)) where max is the signed
    /// value of largest magnitude, d = max / -127 as float32 (not rounded). An all-zero super-block gives
    /// d = 0 and q = 0. The block's bsums are the sums of each 16 codes.
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="codes">Receives 256 signed codes, -127..127.</param>
    /// <param name="d">The float32 scale.</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeQ8K(ReadOnlySpan<float> x, Span<sbyte> codes, out float d)
    {
        CheckSuperBlock(x, default, codes.Length);
        float max = 0f, amax = 0f;
        for (int j = 0; j < SuperBlockSize; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amax)
            {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0f)
        {
            codes[..SuperBlockSize].Clear();
            d = 0f;
            return;
        }
        // -127 rather than -128 keeps every code symmetric (ggml's comment: for IQ2_XXS's AVX path).
        float iscale = -127f / max;
        for (int j = 0; j < SuperBlockSize; j++) codes[j] = (sbyte)Math.Min(127, QuantMath.NearestInt(iscale * x[j]));
        d = 1f / iscale;
    }

    /// <summary>q4_K (nmax 15) and q5_K (nmax 31): the two differ only in code range and search constants.</summary>
    private static void QuantizeScaleMinK(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, int nmax,
        Span<byte> codes, Span<byte> scales, Span<byte> mins, out float d, out float dmin)
    {
        CheckSuperBlock(x, importance, codes.Length);
        CheckLength(scales.Length, 8, nameof(scales));
        CheckLength(mins.Length, 8, nameof(mins));

        Span<float> subScales = stackalloc float[8];
        Span<float> subMins = stackalloc float[8];
        Span<float> weights = stackalloc float[32];
        Span<byte> scaleCodes = stackalloc byte[8];
        Span<byte> minCodes = stackalloc byte[8];
        float storedD, storedDmin;

        if (importance.IsEmpty)
        {
            // quantize_row_q4_K_ref / q5_K_ref: weights sqrt(mean x^2 of the sub-block) + |x|.
            float rmin = nmax == 15 ? -1f : -0.5f;
            int nstep = nmax == 15 ? 20 : 15;
            float maxScale = 0f, maxMin = 0f;
            for (int j = 0; j < 8; j++)
            {
                ReadOnlySpan<float> xs = x.Slice(32 * j, 32);
                float averageMagnitude = MathF.Sqrt(GgmlSearch.SumOfSquares(xs) / 32);
                for (int l = 0; l < 32; l++) weights[l] = averageMagnitude + MathF.Abs(xs[l]);
                subScales[j] = GgmlSearch.MakeQkxQuants(xs, nmax, weights, codes.Slice(32 * j, 32), out subMins[j], rmin, 0.1f, nstep, useMad: false);
                if (subScales[j] > maxScale) maxScale = subScales[j];
                if (subMins[j] > maxMin) maxMin = subMins[j];
            }
            float inverseScale = maxScale > 0f ? 63f / maxScale : 0f;
            float inverseMin = maxMin > 0f ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                // uint8_t first (wrapping), then clamped to 63, in that order.
                scaleCodes[j] = Math.Min((byte)63, (byte)QuantMath.NearestInt(inverseScale * subScales[j]));
                minCodes[j] = Math.Min((byte)63, (byte)QuantMath.NearestInt(inverseMin * subMins[j]));
            }
            storedD = GgmlSearch.RoundToF16(maxScale / 63f);
            storedDmin = GgmlSearch.RoundToF16(maxMin / 63f);
        }
        else
        {
            // quantize_row_q4_K_impl / q5_K_impl: imatrix weights, make_qkx3_quants, scales by make_qp_quants.
            float sigma2 = 2 * GgmlSearch.SumOfSquares(x) / SuperBlockSize;
            Span<float> subWeights = stackalloc float[8];
            for (int j = 0; j < 8; j++)
            {
                ReadOnlySpan<float> xs = x.Slice(32 * j, 32);
                GgmlSearch.SigmaWeights(xs, importance.Slice(32 * j, 32), sigma2, weights);
                subWeights[j] = GgmlSearch.Sum(weights);
                subScales[j] = GgmlSearch.MakeQkxQuants(xs, nmax, weights, codes.Slice(32 * j, 32), out subMins[j], -0.9f, 0.05f, 36, useMad: false);
            }
            float dBlock = GgmlSearch.MakeQpQuants(subScales, 63, scaleCodes, subWeights);
            float mBlock = GgmlSearch.MakeQpQuants(subMins, 63, minCodes, subWeights);
            if (nmax == 31)
            {
                // q5_K_impl clamps again; q4_K_impl stores make_qp_quants' codes as they are.
                for (int j = 0; j < 8; j++)
                {
                    scaleCodes[j] = Math.Min((byte)63, scaleCodes[j]);
                    minCodes[j] = Math.Min((byte)63, minCodes[j]);
                }
            }
            storedD = GgmlSearch.RoundToF16(dBlock);
            storedDmin = GgmlSearch.RoundToF16(mBlock);
        }

        // Through the 12-byte packing and back, so that a code the packing cannot hold reads as ggml reads it.
        Span<byte> packed = stackalloc byte[12];
        PackScaleMinK4(scaleCodes, minCodes, packed);
        for (int j = 0; j < 8; j++) ReadScaleMinK4(packed, j, out scales[j], out mins[j]);

        for (int j = 0; j < 8; j++)
        {
            float dj = storedD * scales[j];
            if (dj == 0f) continue;
            float mj = storedDmin * mins[j];
            for (int i = 32 * j; i < 32 * j + 32; i++) codes[i] = (byte)Math.Clamp(QuantMath.NearestInt((x[i] + mj) / dj), 0, nmax);
        }
        d = storedD;
        dmin = storedDmin;
    }

    /// <summary>ggml's 12-byte packing of eight 6-bit scales and mins (q4_K, q5_K), exactly as its quantizers write it.</summary>
    private static void PackScaleMinK4(ReadOnlySpan<byte> scaleCodes, ReadOnlySpan<byte> minCodes, Span<byte> packed)
    {
        packed.Clear();
        for (int j = 0; j < 8; j++)
        {
            byte ls = scaleCodes[j], lm = minCodes[j];
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }

    /// <summary>ggml's <c>get_scale_min_k4</c>.</summary>
    private static void ReadScaleMinK4(ReadOnlySpan<byte> packed, int j, out byte scale, out byte min)
    {
        if (j < 4)
        {
            scale = (byte)(packed[j] & 63);
            min = (byte)(packed[j + 4] & 63);
        }
        else
        {
            scale = (byte)((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4));
            min = (byte)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
        }
    }

    private static void CheckSuperBlock(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, int codesLength)
    {
        if (x.Length != SuperBlockSize) throw new QuantFormatException($"A super-block holds {SuperBlockSize} values, not {x.Length}.");
        if (!importance.IsEmpty && importance.Length != SuperBlockSize)
            throw new QuantFormatException($"The importance of a super-block holds {SuperBlockSize} values or none, not {importance.Length}.");
        CheckLength(codesLength, SuperBlockSize, "codes");
    }

    private static void CheckLength(int length, int required, string name)
    {
        if (length < required) throw new QuantFormatException($"{name} must hold {required} values, not {length}.");
    }
}
