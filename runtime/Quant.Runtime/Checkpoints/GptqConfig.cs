using System.Globalization;

namespace Quant.Runtime.Checkpoints;

/// <summary>Which tool wrote a GPTQ-style checkpoint, which fixes how its <c>qweight</c> and <c>qzeros</c> are laid out.</summary>
public enum GptqFlavor
{
    /// <summary>
    /// AutoGPTQ's format (<c>checkpoint_format: "gptq"</c>, what transformers, vLLM and most published GPTQ models use):
    /// codes packed along the input dimension, <c>qzeros</c> packed along the output dimension holding <c>z - 1</c>, so
    /// that a reader adds 1 to each field (z in [1, 2^bits]).
    /// </summary>
    GptqV1,

    /// <summary>GPTQModel's <c>checkpoint_format: "gptq_v2"</c>: the layout of <see cref="GptqV1"/> with the zero points stored as they are (z in [0, 2^bits - 1]).</summary>
    GptqV2,

    /// <summary>
    /// AutoAWQ's GEMM layout (<c>quant_method: "awq"</c>, <c>version: "gemm"</c>): 4-bit only, <c>qweight [K, N/8]</c> and
    /// <c>qzeros [K/G, N/8]</c> packed along the output dimension in the nibble order 0, 2, 4, 6, 1, 3, 5, 7; zero points stored as
    /// they are; no <c>g_idx</c>.
    /// </summary>
    Awq,
}

/// <summary>
/// What a GPTQ / AWQ checkpoint's <c>quantize_config.json</c> (or <c>quantization_config</c>) says about one layer.
/// </summary>
/// <param name="Flavor">Which tool's layout the tensors follow.</param>
/// <param name="Bits">Bits per code: 2, 3, 4 or 8 for GPTQ; 4 for AWQ.</param>
/// <param name="GroupSize">Input columns per group (<c>group_size</c>); -1 for one group per output row ("per channel").</param>
public sealed record GptqConfig(GptqFlavor Flavor, int Bits, int GroupSize)
{
    /// <summary>AutoGPTQ's format (v1 zero points) with <paramref name="bits"/> and <paramref name="groupSize"/>.</summary>
    public static GptqConfig GptqV1(int bits, int groupSize) => new(GptqFlavor.GptqV1, bits, groupSize);

    /// <summary>GPTQModel's v2 format with <paramref name="bits"/> and <paramref name="groupSize"/>.</summary>
    public static GptqConfig GptqV2(int bits, int groupSize) => new(GptqFlavor.GptqV2, bits, groupSize);

    /// <summary>AutoAWQ's GEMM format: 4 bits, <paramref name="groupSize"/>.</summary>
    public static GptqConfig Awq(int groupSize) => new(GptqFlavor.Awq, 4, groupSize);

    /// <summary>The smallest zero point the flavour can store (1 for v1, which stores <c>z - 1</c>).</summary>
    public int MinZero => Flavor == GptqFlavor.GptqV1 ? 1 : 0;

    /// <summary>The largest zero point the flavour can store.</summary>
    public int MaxZero => (1 << Bits) - 1 + MinZero;

    /// <summary>The group size with -1 resolved against <paramref name="inFeatures"/> (<c>K</c>).</summary>
    public int ResolveGroupSize(int inFeatures) => GroupSize == -1 ? inFeatures : GroupSize;

    /// <summary>Checks the bit width against the flavour and the group size.</summary>
    /// <exception cref="QuantFormatException">The flavour has no such bit width, or the group size is neither -1 nor positive.</exception>
    public void Validate()
    {
        bool bitsOk = Flavor switch
        {
            GptqFlavor.GptqV1 or GptqFlavor.GptqV2 => Bits is 2 or 3 or 4 or 8,
            GptqFlavor.Awq => Bits == 4,
            _ => throw new QuantFormatException($"Unknown GPTQ flavour {(int)Flavor}."),
        };
        if (!bitsOk)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"bits = {Bits}: {Flavor} checkpoints hold {(Flavor == GptqFlavor.Awq ? "4" : "2, 3, 4 or 8")}-bit codes."));
        }
        if (GroupSize != -1 && GroupSize <= 0)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"group_size = {GroupSize}: it must be positive, or -1 for one group per row."));
        }
    }
}
