using System;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Quant.Quantization;

/// <summary>
/// HQQ (half-quadratic quantization) as mistral.rs implements it: <c>HqqLayer::quantize</c>
/// (mistralrs-quant/src/hqq/quantize.rs) followed by <c>optimize_weights_proximal_legacy</c>
/// (hqq/optimize.rs, a port of mobiusml/hqq's <c>optimize_weights_proximal_legacy</c>), read at mistral.rs
/// commits d5f3be6f (quantize.rs) and b9dc359d (optimize.rs). Dequantization is <c>y = (q - zero) * scale</c>.
/// </summary>
/// <remarks>
/// <para>
/// Per group, all in float32 as candle computes it on the CPU (each tensor operation rounds on its own; no
/// fused multiply-add): the inverse scale <c>s = recip(max - min) * (2^bits - 1)</c> clamped to [0, 2e4]; the
/// zero <c>z = -min * s</c>, rounded half away from zero when <c>round_zeros</c>. Then up to
/// <c>steps</c> iterations, with <c>beta = 10</c> (float64) growing by 1.01 after each:
/// <c>q = clamp(round(x * s + z), 0, 2^bits - 1)</c>, <c>r = (q - z) / s</c>, <c>e = shrink(x - r)</c> with the
/// lp proximal operator <c>shrink(d) = sign(d) * relu(|d| - exp((p - 1) * ln|d|) / beta)</c>, p = 0.7, and the
/// new zero <c>z = mean(q - (x - e) * s)</c>. The error of the iteration is <c>mean |x - r|</c>; when it is not
/// below the best so far the loop stops, keeping the zero the iteration has just moved (mistral.rs breaks
/// after the update). Final codes <c>clamp(round(x * s + z), 0, 2^bits - 1)</c>; the stored scale is
/// <c>1 / s</c>. The scale itself is never optimised.
/// </para>
/// <para>
/// Sums accumulate in float32 in element order, and a mean is the sum times <c>(float)(1.0 / n)</c>, as
/// candle's CPU reductions do on x86-64 builds without AVX and on every reduction over HQQ's axis 0; a
/// build whose reductions run in SIMD lanes may round the last bit of a zero differently.
/// </para>
/// <para>
/// mistral.rs stops on the mean error of the <b>whole tensor</b>, so every group of a layer stops at the
/// same step. <see cref="QuantizeGroups"/> reproduces that for groups laid out one after another (HQQ's
/// axis 1); <see cref="QuantizeGroup"/> is the same function on one group, which is what a row-local
/// format's rule runs: each group then stops on its own error.
/// </para>
/// </remarks>
public static class Hqq
{
    /// <summary>mistral.rs' group size for in-situ quantization (<c>ISQ_HQQ_GROUP_SIZE</c>).</summary>
    public const int DefaultGroupSize = 64;

    /// <summary>mistral.rs' optimisation steps for in-situ quantization (<c>ISQ_HQQ_DEFAULT_OPT_STEPS</c>).</summary>
    public const int IsqSteps = 10;

    /// <summary>The optimiser's steps when none are given (<c>OPTIMIZER_HQQ_DEFAULT_STEPS</c>); UQFF stores that case as 0.</summary>
    public const int DefaultSteps = 20;

    /// <summary>The p of the lp-norm proximal operator (<c>OptParams::lp_norm</c>).</summary>
    public const double LpNorm = 0.7;

    /// <summary>The first beta (<c>OptParams::beta</c>).</summary>
    public const double InitialBeta = 10.0;

    /// <summary>The factor beta grows by after each step (<c>OptParams::kappa</c>).</summary>
    public const double Kappa = 1.01;

    /// <summary>The largest inverse scale; candle clamps it to avoid half-precision overflow.</summary>
    public const float MaxInverseScale = 2e4f;

    /// <summary>The step count of an <c>optimization_steps</c> field as mistral.rs reads it: 0 means none given, so <see cref="DefaultSteps"/>.</summary>
    public static int StepsOf(uint optimizationSteps) => optimizationSteps == 0 ? DefaultSteps : (int)Math.Min(optimizationSteps, int.MaxValue);

    /// <summary>Quantizes one group: its codes, its scale and its zero point, the group stopping on its own error.</summary>
    /// <param name="x">The group's values.</param>
    /// <param name="bits">Code width, 1 to 8 (mistral.rs has 1, 2, 3, 4 and 8).</param>
    /// <param name="steps">Optimisation steps (0: the min/max zero point as it is).</param>
    /// <param name="roundZeros">Round the starting zero point to an integer (<c>round_zeros</c>).</param>
    /// <param name="codes">Receives one code per value, 0 to 2^bits - 1.</param>
    /// <param name="scale">The scale as stored: the reciprocal of the inverse scale the codes were rounded with.</param>
    /// <param name="zero">The zero point.</param>
    /// <exception cref="QuantFormatException">The spans do not match, the group is empty, or bits or steps are out of range.</exception>
    public static void QuantizeGroup(ReadOnlySpan<float> x, int bits, int steps, bool roundZeros, Span<byte> codes, out float scale, out float zero)
    {
        // One scale, one zero, and the inverse scale and zero sum the steps work with.
        Span<float> values = stackalloc float[4];
        Run(x, x.Length, bits, steps, roundZeros, codes, values.Slice(0, 1), values.Slice(1, 1), values.Slice(2));
        scale = values[0];
        zero = values[1];
    }

    /// <summary>
    /// Quantizes consecutive groups of <paramref name="groupSize"/> values with one early stop for all of them,
    /// on the mean absolute error over every value, as mistral.rs does for a whole tensor grouped along axis 1.
    /// </summary>
    /// <param name="x">The groups, one after another (<c>groups * groupSize</c> values).</param>
    /// <param name="groupSize">Values per group.</param>
    /// <param name="bits">Code width, 1 to 8.</param>
    /// <param name="steps">Optimisation steps.</param>
    /// <param name="roundZeros">Round the starting zero points to integers.</param>
    /// <param name="codes">Receives one code per value.</param>
    /// <param name="scales">Receives one stored scale per group.</param>
    /// <param name="zeros">Receives one zero point per group.</param>
    /// <exception cref="QuantFormatException">The spans do not match, or bits or steps are out of range.</exception>
    public static void QuantizeGroups(ReadOnlySpan<float> x, int groupSize, int bits, int steps, bool roundZeros, Span<byte> codes, Span<float> scales, Span<float> zeros)
    {
        int groups = groupSize > 0 ? x.Length / groupSize : 0;
        float[] work = new float[2 * groups];
        Run(x, groupSize, bits, steps, roundZeros, codes, scales, zeros, work);
    }

    private static void Run(ReadOnlySpan<float> x, int groupSize, int bits, int steps, bool roundZeros,
        Span<byte> codes, Span<float> scales, Span<float> zeros, Span<float> work)
    {
        if (bits is < 1 or > 8) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"HQQ codes have 1 to 8 bits, not {bits}."));
        if (steps < 0) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"HQQ optimisation steps cannot be negative ({steps})."));
        if (groupSize <= 0 || x.IsEmpty || x.Length % groupSize != 0)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{x.Length} values are not a whole, non-zero number of groups of {groupSize}."));
        }
        int groups = x.Length / groupSize;
        if (codes.Length != x.Length || scales.Length != groups || zeros.Length != groups || work.Length < 2 * groups)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{groups} groups of {groupSize} need {x.Length} codes and {groups} scales and zeros; got {codes.Length}, {scales.Length} and {zeros.Length}."));
        }
        float top = (1 << bits) - 1;
        Span<float> inverse = work.Slice(0, groups);
        Span<float> sums = work.Slice(groups, groups);

        // quantize.rs: min/max per group, the inverse scale and the zero point.
        for (int g = 0; g < groups; g++)
        {
            var group = x.Slice(g * groupSize, groupSize);
            float min = group[0], max = group[0];
            foreach (float v in group)
            {
                min = Minimum(min, v);
                max = Maximum(max, v);
            }
            // `max_v / (max - min)` is candle's recip then an affine multiply; clamp is maximum then minimum.
            float s = 1f / (max - min) * top + 0f;
            s = Minimum(Maximum(s, 0f), MaxInverseScale);
            float z = -min * s;
            if (roundZeros) z = MathF.Round(z, MidpointRounding.AwayFromZero);
            inverse[g] = s;
            zeros[g] = z;
        }

        // optimize.rs: the proximal steps on the zero points, one early stop for all groups.
        double beta = InitialBeta;
        float exponent = (float)(LpNorm - 1.0);
        float perGroup = (float)(1.0 / groupSize);
        float perValue = (float)(1.0 / x.Length);
        float best = 1e4f;
        for (int step = 0; step < steps; step++)
        {
            float shrink = (float)(1.0 / beta);
            float errorSum = 0f;
            for (int g = 0; g < groups; g++)
            {
                var group = x.Slice(g * groupSize, groupSize);
                float s = inverse[g], z = zeros[g];
                float sum = 0f;
                foreach (float w in group)
                {
                    float q = Code(w, s, z, top);
                    float r = (q - z) / s;
                    float d = w - r;
                    float magnitude = MathF.Abs(d);
                    // candle's pow is exp(exponent * ln(base)); the shrunk error keeps d's sign.
                    float shrunk = magnitude - (MathF.Exp(exponent * MathF.Log(magnitude)) * shrink + 0f);
                    float e = Sign(d) * Relu(shrunk);
                    sum += q - (w - e) * s;
                    errorSum += magnitude;
                }
                sums[g] = sum * perGroup + 0f;
            }
            sums.CopyTo(zeros);
            beta *= Kappa;
            float error = errorSum * perValue + 0f;
            if (error < best) best = error;
            else break;
        }

        for (int g = 0; g < groups; g++)
        {
            float s = inverse[g], z = zeros[g];
            for (int i = g * groupSize; i < (g + 1) * groupSize; i++) codes[i] = (byte)Code(x[i], s, z, top);
            scales[g] = 1f / s * 1f + 0f;
        }
    }

    /// <summary><c>clamp(round(x * s + z), 0, top)</c>, each operation rounded to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Code(float x, float s, float z, float top)
    {
        float scaled = x * s;
        return Minimum(Maximum(MathF.Round(scaled + z, MidpointRounding.AwayFromZero), 0f), top);
    }

    // candle's binary maximum / minimum for floats: `if a < b { b } else { a }` and `if a > b { b } else { a }`.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Maximum(float a, float b) => a < b ? b : a;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Minimum(float a, float b) => a > b ? b : a;

    // Rust's f32::max(v, 0): NaN gives 0.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Relu(float v) => v > 0f ? v : 0f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sign(float v) => v > 0f ? 1f : v < 0f ? -1f : 0f;
}
