using System;
using Quant.Numerics;

namespace Quant.Quantization;

/// <summary>
/// The scale searches ggml's block quantizers share (ggml-quants.c: <c>make_qx_quants</c>,
/// <c>make_q3_quants</c>, <c>make_qkx2_quants</c> / <c>make_qkx3_quants</c>, <c>make_qp_quants</c>,
/// <c>best_index_int8</c>), re-expressed so that every float32 operation happens in ggml's order.
/// Read from ggml-org/ggml ggml-quants.c (commit 5136ed06); checked bit for bit against the peer vectors
/// made with ggml d99724f2 (tests/Quant.Ggml.Tests).
/// </summary>
/// <remarks>
/// Bit-exactness rules kept throughout: every product and sum is a separate float32 operation (no fused
/// multiply-add; .NET does not contract <c>a * b + c</c>); an int operand of a float product is converted
/// first (<c>w * x * l</c> is <c>(w * x) * (float)l</c>, never an integer product); C's stores into
/// <c>uint8_t</c> / <c>int8_t</c> wrap, which the <c>(byte)</c> / <c>(sbyte)</c> casts reproduce.
/// </remarks>
internal static class GgmlSearch
{
    /// <summary>ggml's <c>GROUP_MAX_EPS</c>: a group whose largest magnitude is below this counts as all zero.</summary>
    internal const float GroupMaxEps = 1e-15f;

    /// <summary>
    /// <c>make_qx_quants</c> with <c>rmse_type = 1</c> (the only type the formats here use): a symmetric
    /// signed scale for codes <c>-nmax .. nmax-1</c>. Starts at <c>-nmax / max</c>, then tries the 18
    /// inverse scales <c>-(nmax + 0.1 i) / max</c> (i = -9..9, i != 0) and keeps the least-squares scale of
    /// the trial with the best weighted fit <c>(sum w x l)^2 / sum w l^2</c>.
    /// </summary>
    /// <param name="x">The group's values.</param>
    /// <param name="nmax">Half the code range (4 for q3_K, 8 for q4_0, 16 for q5_0, 32 for q6_K / q3_K's scales).</param>
    /// <param name="weights">The weight of each value, or empty for ggml's default <c>x^2</c>.</param>
    /// <param name="codes">Receives <c>l + nmax</c> per value (0 for an all-zero group).</param>
    /// <returns>The scale (0 for an all-zero group).</returns>
    internal static float MakeQxQuants(ReadOnlySpan<float> x, int nmax, ReadOnlySpan<float> weights, Span<byte> codes)
    {
        int n = x.Length;
        float max = 0f, amax = 0f;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax)
            {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < GroupMaxEps)
        {
            codes[..n].Clear();
            return 0f;
        }

        float iscale = -nmax / max;
        float sumlx = 0f, suml2 = 0f;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(QuantMath.NearestInt(iscale * x[i]), -nmax, nmax - 1);
            codes[i] = (byte)(l + nmax);
            float w = weights.IsEmpty ? x[i] * x[i] : weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        // C's "suml2 ? a : b" is true for NaN too, as "!= 0" is.
        float scale = suml2 != 0f ? sumlx / suml2 : 0f;
        float best = scale * sumlx;

        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = 0f;
            suml2 = 0f;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(QuantMath.NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = weights.IsEmpty ? x[i] * x[i] : weights[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            // Compare (sumlx^2 / suml2) with best without dividing, as ggml does (the rounding differs).
            if (suml2 > 0f && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                {
                    int l = Math.Clamp(QuantMath.NearestInt(iscale * x[i]), -nmax, nmax - 1);
                    codes[i] = (byte)(l + nmax);
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// <c>make_q3_quants</c> with <c>do_rmse</c>: starts from <c>-nmax / max</c>, then up to five passes of
    /// coordinate descent on single codes, each accepted when it raises <c>(sum w x l)^2 / sum w l^2</c>
    /// (weights <c>x^2</c>).
    /// </summary>
    /// <param name="x">The group's values (16 for q3_K).</param>
    /// <param name="nmax">Half the code range (4).</param>
    /// <param name="codes">Receives <c>l + nmax</c> per value (0 for an all-zero group).</param>
    /// <returns>The least-squares scale of the final codes (0 for an all-zero group).</returns>
    internal static float MakeQ3Quants(ReadOnlySpan<float> x, int nmax, Span<byte> codes)
    {
        int n = x.Length;
        float max = 0f, amax = 0f;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax)
            {
                amax = ax;
                max = x[i];
            }
        }
        if (amax < GroupMaxEps)
        {
            codes[..n].Clear();
            return 0f;
        }

        Span<sbyte> levels = stackalloc sbyte[n];
        float iscale = -nmax / max;
        float sumlx = 0f, suml2 = 0f;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(QuantMath.NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int pass = 0; pass < 5; pass++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                // The sums without value i: the best level for it alone is x * sl2 / slx.
                float slx = sumlx - w * x[i] * levels[i];
                if (slx > 0f)
                {
                    float sl2 = suml2 - w * levels[i] * levels[i];
                    int newLevel = Math.Clamp(QuantMath.NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                    if (newLevel != levels[i])
                    {
                        slx += w * x[i] * newLevel;
                        sl2 += w * newLevel * newLevel;
                        if (sl2 > 0f && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            levels[i] = (sbyte)newLevel;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) codes[i] = (byte)(levels[i] + nmax);
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// <c>make_qkx2_quants</c> and <c>make_qkx3_quants</c> (the same arithmetic once weights are given):
    /// an asymmetric fit <c>x ~ scale * l + min</c> with codes <c>0 .. nmax</c> and <c>min &lt;= 0</c>.
    /// Starts from <c>nmax / (max - min)</c>, then tries <c>nstep + 1</c> inverse scales
    /// <c>(rmin + rdelta * i + nmax) / (max - min)</c>, solves the weighted least-squares scale and min of
    /// each (a positive min is clamped to 0 and the scale refitted) and keeps the lowest weighted error
    /// (absolute with <paramref name="useMad"/>, squared otherwise).
    /// </summary>
    /// <param name="x">The group's values.</param>
    /// <param name="nmax">The largest code.</param>
    /// <param name="weights">The weight of each value.</param>
    /// <param name="codes">Receives the codes.</param>
    /// <param name="negatedMin">Receives <c>-min</c> (so 0 or positive; -0.0 where min is 0).</param>
    /// <param name="rmin">The first trial's offset from <paramref name="nmax"/>.</param>
    /// <param name="rdelta">The step between trials.</param>
    /// <param name="nstep">The index of the last trial.</param>
    /// <param name="useMad">Absolute rather than squared error.</param>
    /// <returns>The scale.</returns>
    internal static float MakeQkxQuants(ReadOnlySpan<float> x, int nmax, ReadOnlySpan<float> weights, Span<byte> codes,
        out float negatedMin, float rmin, float rdelta, int nstep, bool useMad)
    {
        int n = x.Length;
        float min = x[0];
        float max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0f) min = 0f;
        if (max <= min)
        {
            codes[..n].Clear();
            negatedMin = -min;
            return 0f;
        }

        float iscale = nmax / (max - min);
        float scale = 1f / iscale;
        float bestError = 0f;
        for (int i = 0; i < n; i++)
        {
            int l = QuantMath.NearestInt(iscale * (x[i] - min));
            codes[i] = (byte)Math.Clamp(l, 0, nmax);
            float diff = scale * codes[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            negatedMin = -min;
            return scale;
        }

        Span<byte> trial = stackalloc byte[n];
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0f, sumL2 = 0f, sumXL = 0f;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(QuantMath.NearestInt(iscale * (x[i] - min)), 0, nmax);
                trial[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            // The 2x2 normal equations of the weighted fit; D is their determinant.
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0f)
            {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0f)
                {
                    thisMin = 0f;
                    thisScale = sumXL / sumL2;
                }
                float error = 0f;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * trial[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    error += weights[i] * diff;
                }
                if (error < bestError)
                {
                    trial.CopyTo(codes);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        negatedMin = -min;
        return scale;
    }

    /// <summary>
    /// <c>make_qp_quants</c>: quantizes non-negative values (the sub-block scales or mins of a K-quant
    /// super-block) to codes <c>0 .. nmax</c> with one positive scale. Tries <c>nmax / max</c> and the eight
    /// inverse scales <c>(nmax + 0.1 i) / max</c> (i = -4..4, i != 0) by weighted squared error, then up
    /// to five passes of coordinate descent on single codes, and returns the least-squares scale.
    /// </summary>
    /// <param name="x">The values (8 or 16).</param>
    /// <param name="nmax">The largest code (15 or 63).</param>
    /// <param name="codes">Receives the codes as ggml's <c>uint8_t</c> array holds them.</param>
    /// <param name="weights">The weight of each value.</param>
    /// <returns>The scale (0 when every value is below <see cref="GroupMaxEps"/>).</returns>
    internal static float MakeQpQuants(ReadOnlySpan<float> x, int nmax, Span<byte> codes, ReadOnlySpan<float> weights)
    {
        int n = x.Length;
        float max = 0f;
        for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
        if (max < GroupMaxEps)
        {
            codes[..n].Clear();
            return 0f;
        }

        float iscale = nmax / max;
        for (int i = 0; i < n; i++) codes[i] = (byte)QuantMath.NearestInt(iscale * x[i]);
        float scale = 1f / iscale;
        float bestMse = 0f;
        for (int i = 0; i < n; i++)
        {
            // ggml reads the codes back from its uint8_t array here, so a wrapped code counts as stored.
            float diff = x[i] - scale * codes[i];
            bestMse += weights[i] * diff * diff;
        }
        for (int step = -4; step <= 4; step++)
        {
            if (step == 0) continue;
            float trialIscale = (0.1f * step + nmax) / max;
            float trialScale = 1f / trialIscale;
            float mse = 0f;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Min(nmax, QuantMath.NearestInt(trialIscale * x[i]));
                float diff = x[i] - trialScale * l;
                mse += weights[i] * diff * diff;
            }
            if (mse < bestMse)
            {
                bestMse = mse;
                iscale = trialIscale;
            }
        }

        float sumlx = 0f, suml2 = 0f;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Min(nmax, QuantMath.NearestInt(iscale * x[i]));
            codes[i] = (byte)l;
            float w = weights[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int pass = 0; pass < 5; pass++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = weights[i];
                float slx = sumlx - w * x[i] * codes[i];
                float sl2 = suml2 - w * codes[i] * codes[i];
                if (slx > 0f && sl2 > 0f)
                {
                    int newCode = Math.Min(nmax, QuantMath.NearestInt(x[i] * sl2 / slx));
                    if (newCode != codes[i])
                    {
                        slx += w * x[i] * newCode;
                        sl2 += w * newCode * newCode;
                        if (slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            codes[i] = (byte)newCode;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// <c>best_index_int8</c>: the index of the entry of a sorted codebook nearest to <paramref name="x"/>,
    /// by bisection; an exact midpoint goes to the upper entry.
    /// </summary>
    internal static int BestIndexInt8(ReadOnlySpan<sbyte> values, float x)
    {
        int n = values.Length;
        if (x <= values[0]) return 0;
        if (x >= values[n - 1]) return n - 1;
        int lo = 0, hi = n - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (x < values[mid]) hi = mid;
            else lo = mid;
        }
        return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi;
    }

    /// <summary>
    /// The per-block scale search of <c>quantize_row_iq4_nl_impl</c> for one 32-value block: a start at
    /// <c>max / 127</c> (or <c>max / -127</c> when <paramref name="trials"/> is negative, as
    /// <c>quantize_row_iq4_nl_ref</c> passes), the least-squares scale of the nearest codebook entries,
    /// then <c>2 * trials + 1</c> inverse scales <c>(t - 127) / max</c>, t = -trials..trials, keeping the
    /// best weighted fit. Only the start's codes are written: callers that ran trials re-pick them.
    /// </summary>
    /// <param name="x">The block's values.</param>
    /// <param name="weights">The weight of each value.</param>
    /// <param name="codebook">The sorted codebook (iq4_nl's).</param>
    /// <param name="trials">7 for <c>ggml_quantize_chunk</c>, -1 for the row reference.</param>
    /// <param name="codes">Receives the start's codes; left as it was for an all-zero block.</param>
    /// <returns>The scale, 0 for a block whose largest magnitude is below <see cref="GroupMaxEps"/>.</returns>
    internal static float Iq4BlockScale(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, ReadOnlySpan<sbyte> codebook,
        int trials, Span<byte> codes)
    {
        int n = x.Length;
        float amax = 0f, max = 0f;
        for (int j = 0; j < n; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amax)
            {
                amax = ax;
                max = x[j];
            }
        }
        if (amax < GroupMaxEps) return 0f;

        float d = trials > 0 ? -max / codebook[0] : max / codebook[0];
        float id = 1f / d;
        float sumqx = 0f, sumq2 = 0f;
        for (int j = 0; j < n; j++)
        {
            int l = BestIndexInt8(codebook, id * x[j]);
            codes[j] = (byte)l;
            float q = codebook[l];
            float w = weights[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        d = sumq2 > 0f ? sumqx / sumq2 : 0f;
        float best = d * sumqx;
        for (int t = -trials; t <= trials; t++)
        {
            id = (t + codebook[0]) / max;
            sumqx = 0f;
            sumq2 = 0f;
            for (int j = 0; j < n; j++)
            {
                float q = codebook[BestIndexInt8(codebook, id * x[j])];
                float w = weights[j];
                sumqx += w * q * x[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0f && sumqx * sumqx > best * sumq2)
            {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        return d;
    }

    /// <summary>weight_j = importance_j * sqrt(sigma2 + x_j^2), ggml's imatrix weighting.</summary>
    internal static void SigmaWeights(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, float sigma2, Span<float> weights)
    {
        for (int j = 0; j < x.Length; j++) weights[j] = importance[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
    }

    /// <summary>The float32 value of the f16 ggml stores for <paramref name="value"/>.</summary>
    internal static float RoundToF16(float value) => Fp16.ToSingle(Fp16.FromSingle(value));

    /// <summary>Sum of x^2 in element order, in float32, as ggml's loops accumulate it.</summary>
    internal static float SumOfSquares(ReadOnlySpan<float> x)
    {
        float sum = 0f;
        foreach (float v in x) sum += v * v;
        return sum;
    }

    /// <summary>Sum in element order, in float32.</summary>
    internal static float Sum(ReadOnlySpan<float> values)
    {
        float sum = 0f;
        foreach (float v in values) sum += v;
        return sum;
    }
}
