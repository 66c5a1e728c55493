using System;
using Quant.Numerics;

namespace Quant.Quantization;

/// <summary>
/// ggml's quantizers for the non-linear 4-bit formats iq4_nl (32 values, one f16 scale) and iq4_xs
/// (256 values, an f16 super-scale and eight 6-bit sub-scales), ports of <c>quantize_row_iq4_nl_impl</c>
/// as <c>quantize_iq4_nl</c>, <c>quantize_iq4_xs</c> and <c>quantize_row_iq4_nl_ref</c> call it.
/// value = scale * <see cref="Codebook"/>[code].
/// </summary>
/// <remarks>
/// Weights are <c>x^2</c> without an importance matrix and <c>importance_j * sqrt(sigma2 + x_j^2)</c> with
/// one, sigma2 being twice the mean square of the block (iq4_nl) or super-block (iq4_xs).
/// </remarks>
public static class GgmlIq4
{
    /// <summary>The number of values in an iq4_nl block and in an iq4_xs sub-block.</summary>
    public const int BlockSize = 32;

    /// <summary>The number of values in an iq4_xs super-block.</summary>
    public const int SuperBlockSize = 256;

    // The trials each way around the start scale that ggml_quantize_chunk runs.
    private const int ChunkTrials = 7;

    /// <summary>ggml's <c>kvalues_iq4nl</c>: the sorted codebook of iq4_nl and iq4_xs, indexed by the 4-bit code.</summary>
    public static ReadOnlySpan<sbyte> Codebook => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>
    /// iq4_nl as <c>ggml_quantize_chunk</c> (and so GGUF files) quantizes it: the start scale max / 127,
    /// the least-squares scale of its codes, 15 trial inverse scales (t - 127) / max (t = -7..7) kept by
    /// weighted fit, then every code re-picked as the entry nearest to x / d with the float32 d. A block
    /// whose largest magnitude is below 1e-15 gets d = 0 and codes 8 (the entry nearest 0).
    /// </summary>
    /// <param name="x">The block's 32 values.</param>
    /// <param name="importance">The importance of the block's 32 columns, or empty for none.</param>
    /// <param name="codes">Receives 32 codes, 0..15, indices into <see cref="Codebook"/>.</param>
    /// <param name="d">The scale as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeIq4Nl(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes, out float d)
    {
        CheckBlock(x, importance, codes.Length, BlockSize);
        Span<float> weights = stackalloc float[BlockSize];
        BlockWeights(x, importance, TwiceMeanSquare(x), weights);
        float scale = GgmlSearch.Iq4BlockScale(x, weights, Codebook, ChunkTrials, codes);
        d = GgmlSearch.RoundToF16(scale);
        // The re-pick uses the float32 scale from before f16 rounding.
        float inverse = scale != 0f ? 1f / scale : 0f;
        for (int j = 0; j < BlockSize; j++) codes[j] = (byte)GgmlSearch.BestIndexInt8(Codebook, inverse * x[j]);
    }

    /// <summary>
    /// iq4_nl as <c>quantize_row_iq4_nl_ref</c> quantizes it (it differs from
    /// <see cref="QuantizeIq4Nl"/>): weights x^2, the start scale max / -127, its codes, and their
    /// least-squares scale; no trials and no re-pick.
    /// </summary>
    /// <remarks>
    /// For a block whose largest magnitude is below 1e-15 ggml stores d = 0 and leaves the nibbles as its
    /// scratch array held them (the previous block's codes, or uninitialised memory). This function writes
    /// codes 8 there instead: every code dequantizes to ±0 with d = 0, and 8 is what the chunk variant stores.
    /// </remarks>
    /// <param name="x">The block's 32 values.</param>
    /// <param name="codes">Receives 32 codes, 0..15, indices into <see cref="Codebook"/>.</param>
    /// <param name="d">The scale as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeIq4NlRowRef(ReadOnlySpan<float> x, Span<byte> codes, out float d)
    {
        CheckBlock(x, default, codes.Length, BlockSize);
        Span<float> weights = stackalloc float[BlockSize];
        BlockWeights(x, default, 0f, weights);
        codes[..BlockSize].Fill(8);
        d = GgmlSearch.RoundToF16(GgmlSearch.Iq4BlockScale(x, weights, Codebook, -1, codes));
    }

    /// <summary>
    /// iq4_xs: each 32-value sub-block gets a scale as in <see cref="QuantizeIq4Nl"/>; the super-scale is
    /// d = -(sub-scale of largest magnitude) / 32; sub-scale codes are clamp(nearest_int(scale / d), -32, 31)
    /// + 32; codes are re-picked with the float32 d * (code - 32). An all-zero super-block stores d = -0.0,
    /// scale codes 32 and codes 8.
    /// </summary>
    /// <param name="x">The super-block's 256 values.</param>
    /// <param name="importance">The importance of its 256 columns, or empty for none.</param>
    /// <param name="codes">Receives 256 codes, 0..15, indices into <see cref="Codebook"/>.</param>
    /// <param name="scales">Receives 8 six-bit sub-scale codes, 0..63 (signed = code - 32).</param>
    /// <param name="d">The super-scale as stored (f16-rounded).</param>
    /// <exception cref="QuantFormatException">A span has the wrong length.</exception>
    public static void QuantizeIq4Xs(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, Span<byte> codes,
        Span<byte> scales, out float d)
    {
        CheckBlock(x, importance, codes.Length, SuperBlockSize);
        if (scales.Length < 8) throw new QuantFormatException($"scales must hold 8 values, not {scales.Length}.");

        float sigma2 = TwiceMeanSquare(x);
        Span<float> weights = stackalloc float[BlockSize];
        Span<float> subScales = stackalloc float[8];
        float maxScale = 0f, amaxScale = 0f;
        for (int ib = 0; ib < 8; ib++)
        {
            ReadOnlySpan<float> xb = x.Slice(BlockSize * ib, BlockSize);
            BlockWeights(xb, importance.IsEmpty ? default : importance.Slice(BlockSize * ib, BlockSize), sigma2, weights);
            subScales[ib] = GgmlSearch.Iq4BlockScale(xb, weights, Codebook, ChunkTrials, codes.Slice(BlockSize * ib, BlockSize));
            float absScale = MathF.Abs(subScales[ib]);
            if (absScale > amaxScale)
            {
                amaxScale = absScale;
                maxScale = subScales[ib];
            }
        }

        // Negative, so the largest-magnitude sub-scale gets the signed code -32 (its full range); -0.0 when all are 0.
        float superScale = -maxScale / 32;
        float inverse = superScale != 0f ? 1f / superScale : 0f;
        for (int ib = 0; ib < 8; ib++)
        {
            int l = Math.Clamp(QuantMath.NearestInt(inverse * subScales[ib]), -32, 31);
            float dl = superScale * l;
            float idl = dl != 0f ? 1f / dl : 0f;
            ReadOnlySpan<float> xb = x.Slice(BlockSize * ib, BlockSize);
            for (int j = 0; j < BlockSize; j++) codes[BlockSize * ib + j] = (byte)GgmlSearch.BestIndexInt8(Codebook, idl * xb[j]);
            scales[ib] = (byte)(l + 32);
        }
        d = GgmlSearch.RoundToF16(superScale);
    }

    /// <summary>ggml's <c>sigma2</c> here: the sum of squares times 2 / n (n a power of two, so exact either way).</summary>
    private static float TwiceMeanSquare(ReadOnlySpan<float> x) => GgmlSearch.SumOfSquares(x) * (2f / x.Length);

    private static void BlockWeights(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, float sigma2, Span<float> weights)
    {
        if (importance.IsEmpty)
        {
            for (int j = 0; j < x.Length; j++) weights[j] = x[j] * x[j];
        }
        else
        {
            GgmlSearch.SigmaWeights(x, importance, sigma2, weights);
        }
    }

    private static void CheckBlock(ReadOnlySpan<float> x, ReadOnlySpan<float> importance, int codesLength, int size)
    {
        if (x.Length != size) throw new QuantFormatException($"A block holds {size} values, not {x.Length}.");
        if (!importance.IsEmpty && importance.Length != size)
            throw new QuantFormatException($"The importance of a block holds {size} values or none, not {importance.Length}.");
        if (codesLength < size) throw new QuantFormatException($"codes must hold {size} values, not {codesLength}.");
    }
}
