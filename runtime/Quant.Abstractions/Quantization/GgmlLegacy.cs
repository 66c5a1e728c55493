using System;
using Quant.Numerics;

namespace Quant.Quantization;

/// <summary>
/// ggml's quantizers for the 32-value legacy formats q4_0, q5_0 (signed max) and q4_1, q5_1 (min and
/// scale), as <c>ggml_quantize_chunk</c> runs them: with an importance matrix the weighted searches of
/// <c>quantize_row_q4_0_impl</c> / <c>q5_0_impl</c> / <c>q4_1_impl</c> / <c>q5_1_impl</c>, without one
/// the reference rules <c>quantize_row_q4_0_ref</c> and friends. Results are logical values: codes in
/// element order and the scale (and minimum) as the block stores them, already rounded to f16.
/// </summary>
/// <remarks>
/// The weighted searches weigh value j by <c>importance_j * sqrt(sigma2 + x_j^2)</c>, where sigma2 is the
/// mean square of the <b>whole row</b> (not of the block): ggml computes it once per row. Compute it
/// with <see cref="RowSigma2"/> and pass the same value for every block of the row.
/// </remarks>
public static class GgmlLegacy
{
    /// <summary>The number of values in a block of these formats.</summary>
    public const int BlockSize = 32;

    /// <summary>
    /// The row statistic the weighted legacy searches use: the sum of the squares of the row's values,
    /// accumulated in float32 in element order, divided by the row length (ggml's <c>sigma2</c>).
    /// </summary>
    /// <param name="row">The whole row, <c>K</c> floats.</param>
    /// <returns>The mean square of the row (0 for an empty row).</returns>
    public static float RowSigma2(ReadOnlySpan<float> row) => row.IsEmpty ? 0f : GgmlSearch.SumOfSquares(row) / row.Length;

    /// <summary>
    /// q4_0 (<paramref name="bits"/> = 4) or q5_0 (5): value = (code - 2^(bits-1)) * d. With an importance
    /// row, ggml's weighted search (<c>make_qx_quants</c>, nmax 2^(bits-1)); without one, the reference
    /// rule d = max / -2^(bits-1), code = min(2^bits - 1, trunc(x / d + 2^(bits-1) + 0.5)).
    /// </summary>
    /// <param name="x">The block's 32 values.</param>
    /// <param name="importance">The importance of the block's 32 columns, or empty for none.</param>
    /// <param name="rowSigma2">The row's <see cref="RowSigma2"/> (unused without importance).</param>
    /// <param name="bits">4 (q4_0) or 5 (q5_0).</param>
    /// <param name="codes">Receives the 32 unsigned codes, 0 .. 2^bits - 1, in element order.</param>
    /// <param name="d">The scale as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length or <paramref name="bits"/> is not 4 or 5.</exception>
    public static void QuantizeSignedMaxWeighted(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, float rowSigma2,
        int bits, Span<byte> codes, out float d)
    {
        CheckBlock(x, importance, bits, codes);
        int half = 1 << (bits - 1);
        if (importance.IsEmpty)
        {
            float max = QuantMath.SignedMax(x, out _);
            float scale = max / -half;
            float inverse = scale != 0f ? 1f / scale : 0f;
            int top = (1 << bits) - 1;
            // C truncates (int8_t)(x * id + half + 0.5): the 0.5 makes the truncation a rounding.
            float offset = half + 0.5f;
            for (int j = 0; j < BlockSize; j++) codes[j] = (byte)Math.Min(top, (int)(x[j] * inverse + offset));
            d = GgmlSearch.RoundToF16(scale);
            return;
        }

        Span<float> weights = stackalloc float[BlockSize];
        GgmlSearch.SigmaWeights(x, importance, rowSigma2, weights);
        d = GgmlSearch.RoundToF16(GgmlSearch.MakeQxQuants(x, half, weights, codes));
    }

    /// <summary>
    /// q4_1 (<paramref name="bits"/> = 4) or q5_1 (5): value = code * d + m. With an importance row,
    /// ggml's weighted min/scale search (<c>make_qkx3_quants</c>: nmax 2^bits - 1, 37 trials from
    /// <c>nmax - 0.9</c> in steps of 0.05, weighted squared error, min clamped to &lt;= 0); without one,
    /// the reference rule m = min x, d = (max - min) / nmax, code = trunc((x - m) / d + 0.5).
    /// </summary>
    /// <param name="x">The block's 32 values.</param>
    /// <param name="importance">The importance of the block's 32 columns, or empty for none.</param>
    /// <param name="rowSigma2">The row's <see cref="RowSigma2"/> (unused without importance).</param>
    /// <param name="bits">4 (q4_1) or 5 (q5_1).</param>
    /// <param name="codes">Receives the 32 unsigned codes, 0 .. 2^bits - 1, in element order.</param>
    /// <param name="d">The scale as stored (f16-rounded).</param>
    /// <param name="m">The minimum (offset) as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length or <paramref name="bits"/> is not 4 or 5.</exception>
    public static void QuantizeMinMaxWeighted(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, float rowSigma2,
        int bits, Span<byte> codes, out float d, out float m)
    {
        CheckBlock(x, importance, bits, codes);
        int nmax = (1 << bits) - 1;
        if (importance.IsEmpty)
        {
            QuantMath.MinMax(x, out float min, out float max);
            float scale = (max - min) / nmax;
            float inverse = scale != 0f ? 1f / scale : 0f;
            for (int j = 0; j < BlockSize; j++)
            {
                int code = (int)((x[j] - min) * inverse + 0.5f);
                // q4_1 clamps at 15; q5_1 does not clamp (the largest value lands on 31) and stores the low five bits.
                codes[j] = (byte)(bits == 4 ? Math.Min(15, code) : code & 31);
            }
            d = GgmlSearch.RoundToF16(scale);
            m = GgmlSearch.RoundToF16(min);
            return;
        }

        Span<float> weights = stackalloc float[BlockSize];
        GgmlSearch.SigmaWeights(x, importance, rowSigma2, weights);
        float fitScale = GgmlSearch.MakeQkxQuants(x, nmax, weights, codes, out float negatedMin, -0.9f, 0.05f, 36, useMad: false);
        d = GgmlSearch.RoundToF16(fitScale);
        m = GgmlSearch.RoundToF16(-negatedMin);
    }

    private static void CheckBlock(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, int bits, Span<byte> codes)
    {
        if (bits is not (4 or 5)) throw new QuantFormatException($"bits must be 4 or 5, not {bits}.");
        if (x.Length != BlockSize) throw new QuantFormatException($"A block holds {BlockSize} values, not {x.Length}.");
        if (!importance.IsEmpty && importance.Length != BlockSize)
            throw new QuantFormatException($"The importance of a block holds {BlockSize} values or none, not {importance.Length}.");
        if (codes.Length < BlockSize) throw new QuantFormatException($"codes must hold {BlockSize} values, not {codes.Length}.");
    }
}
