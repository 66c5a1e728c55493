namespace Quant;

/// <summary>UQFF layer types (byte 4 of a UQFF 0.2.0 layer blob).</summary>
public enum UqffLayer
{
    /// <summary>The format has no UQFF layer type.</summary>
    None = -1,
    /// <summary>Raw ggml blocks with a ggml type id.</summary>
    Gguf = 0,
    /// <summary>Unquantized F32 / F16 / BF16 weights.</summary>
    Unquant = 1,
    /// <summary>Half-quadratic quantization.</summary>
    Hqq = 2,
    /// <summary>Per-tensor FP8 E4M3 with three scales.</summary>
    Fp8 = 3,
    /// <summary>MLX affine quantization.</summary>
    Afq = 4,
    /// <summary>FP8 blocks with int8 activations.</summary>
    F8Q8 = 5,
    /// <summary>MXFP4 in the GPT-OSS checkpoint layout (blocks and E8M0 scales planes).</summary>
    Mxfp4 = 6,
}

/// <summary>How a scale, minimum or bias is stored.</summary>
public enum ScaleCode
{
    /// <summary>IEEE binary32.</summary>
    F32,
    /// <summary>IEEE binary16.</summary>
    F16,
    /// <summary>bfloat16: the top half of a binary32.</summary>
    BF16,
    /// <summary>OCP MX E8M0: an unsigned power-of-two exponent, bias 127 (0xFF is NaN in the spec).</summary>
    E8M0,
    /// <summary>OCP FP8 E4M3 (NVFP4's block scale).</summary>
    E4M3,
}

/// <summary>How codes of fewer than 8 bits are arranged in bytes.</summary>
public enum Packing
{
    /// <summary>
    /// An LSB-first bit stream: element <c>i</c> occupies bits <c>i*bits .. i*bits+bits-1</c> of the
    /// field read as a little-endian integer. For 4 bits: element 2i in the low nibble and 2i+1 in the
    /// high nibble of byte i (mistral.rs MXFP4). Codes of 3, 5 or 6 bits straddle bytes (MLX AFQ).
    /// </summary>
    Sequential,

    /// <summary>Like <see cref="Sequential"/> for 4-bit codes, but element 2i in the high nibble (bitsandbytes).</summary>
    SequentialHighFirst,

    /// <summary>
    /// ggml's arrangement: runs of <c>Stride</c> bytes; byte <c>j</c> of a run holds element <c>j</c> in
    /// its lowest bits, element <c>j + Stride</c> in the next bits up, and so on (q4_0: element j in
    /// the low nibble and j+16 in the high nibble of byte j).
    /// </summary>
    Sliced,
}

/// <summary>How a <see cref="MinAttribute"/> value combines with an element.</summary>
public enum MinMode
{
    /// <summary><c>y = d * q + m</c> (ggml q4_1, MLX affine bias).</summary>
    Add,
    /// <summary><c>y = (d * sc_j) * q - (dmin * m_j)</c> with integer sub-mins (ggml K-quants).</summary>
    SubtractScaled,
    /// <summary><c>y = (q - z) * d</c> (HQQ, GPTQ zero points).</summary>
    ZeroPoint,
}

/// <summary>Which minifloat codes are special.</summary>
public enum MinifloatSpecials
{
    /// <summary>Every code is a finite number (OCP E2M1, E2M3, E3M2).</summary>
    None,
    /// <summary>Only the all-ones exponent and mantissa code is NaN; no infinities (OCP FP8 E4M3).</summary>
    NanOnly,
    /// <summary>IEEE rules: the all-ones exponent holds infinities and NaNs (OCP FP8 E5M2).</summary>
    Ieee,
}

/// <summary>The algorithm of a <see cref="QuantRuleAttribute"/>.</summary>
public enum ScaleRule
{
    /// <summary><c>d = amax / qmax</c>; codes rounded half away from zero (ggml q8_0).</summary>
    AbsMax,
    /// <summary>
    /// <c>d = max / -2^(bits-1)</c> with max the signed value of largest magnitude; codes
    /// <c>min(2^bits - 1, trunc(x / d + offset + 0.5))</c> (ggml q4_0, q5_0).
    /// </summary>
    SignedMax,
    /// <summary><c>d = (max - min) / (2^bits - 1)</c>, <c>m = min</c> (ggml q4_1, q5_1).</summary>
    MinMax,
    /// <summary>
    /// The OCP MX shared exponent: <c>e = floor(log2(amax)) - emax_elem + 127</c>; each element takes the
    /// nearest code, ties to the lowest code index (ggml's mxfp4).
    /// </summary>
    SharedExponent,
    /// <summary>
    /// mistral.rs' MXFP4 rule: <c>e = floor(log2(amax / max_elem)) + 127</c> clamped to [0, 254], 127 for
    /// an all-zero block; magnitudes rounded at the midpoints, ties away from zero.
    /// </summary>
    SharedExponentMistralRs,
    /// <summary>
    /// Searches candidate scales around the default rule's and keeps the one with the least squared
    /// error; never worse than the default rule on any block.
    /// </summary>
    ErrorMinimizing,

    /// <summary>No scale: each element is rounded to the nearest code (minifloats such as f16, bf16, FP8), ties to even.</summary>
    RoundToNearest,

    /// <summary>
    /// ggml's K-quant searches (q2_K to q6_K; with an importance matrix, their weighted variants), chosen by the
    /// declaration's shape: 256-element super-blocks, 2/3/4/5/6-bit codes, 16- or 32-element sub-blocks.
    /// </summary>
    GgmlKQuant,

    /// <summary>ggml's non-linear 4-bit searches: iq4_nl for 32-element blocks, iq4_xs for 256-element super-blocks of 32.</summary>
    GgmlIq4,

    /// <summary><c>iscale = -(2^(bits-1) - 1) / max</c>, codes <c>nearest_int(iscale * x)</c>, <c>d = 1 / iscale</c> (ggml q8_K).</summary>
    ReciprocalSignedMax,

    /// <summary>
    /// MLX's affine quantization: the group's extreme of larger magnitude (the "edge") is made exactly
    /// representable, <c>scale = edge / round(edge / (+-(max - min) / (2^bits - 1)))</c>, <c>bias = edge</c>;
    /// codes <c>clip(round((w - bias) / scale), 0, 2^bits - 1)</c>, rounding half to even.
    /// </summary>
    Affine,

    /// <summary>
    /// Asymmetric round-to-nearest with a zero point (GPTQ, AWQ and HQQ's starting point): <c>d = (max - min) / (2^bits - 1)</c>,
    /// <c>z = -min / d</c> (rounded to an integer with <see cref="QuantRuleAttribute.RoundZeroPoint"/>), codes
    /// <c>clip(round(x / d + z), 0, 2^bits - 1)</c>, so that <c>y = (q - z) * d</c>.
    /// </summary>
    ZeroPointMinMax,

    /// <summary>
    /// HQQ's half-quadratic proximal optimisation of the zero point, as mistral.rs runs it
    /// (<see cref="Quantization.Hqq"/>): the min/max inverse scale <c>s = (2^bits - 1) / (max - min)</c> clamped to
    /// [0, 2e4] and zero <c>z = -min * s</c> (rounded with <see cref="QuantRuleAttribute.RoundZeroPoint"/>), then
    /// <see cref="QuantRuleAttribute.Steps"/> steps that move <c>z</c> towards the mean of <c>q - (x - e) * s</c>, where
    /// <c>e</c> is the error shrunk by an lp (p = 0.7) proximal operator, stopping early when the group's mean
    /// absolute error stops falling. Codes <c>clip(round(x * s + z), 0, 2^bits - 1)</c>; stored scale <c>1 / s</c>,
    /// so that <c>y = (q - z) * scale</c>.
    /// </summary>
    HalfQuadratic,
}

/// <summary>How a rule rounds a scaled element to a code when it lies between two.</summary>
public enum CodeRounding
{
    /// <summary>Round to nearest, ties to the even code (IEEE, and the OCP MX spec's conversions).</summary>
    NearestEven,
    /// <summary>Round to nearest, ties to the lowest code index (ggml's best_index_mxfp4; so +0 beats -0 and 0.5 beats 1 at 0.75).</summary>
    NearestLowestCode,
}
