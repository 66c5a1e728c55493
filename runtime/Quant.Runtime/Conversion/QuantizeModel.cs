using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Quant.Runtime.Gguf;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;

namespace Quant.Runtime.Conversion;

/// <summary>
/// A linear weight of a checkpoint: a dense or GGUF-typed <c>[N, K]</c> matrix (<c>X.weight</c>), stacked experts
/// <c>[E, N, K]</c> (a GGUF <c>_exps</c> tensor), or GPT-OSS MXFP4 experts (<c>X_blocks</c> <c>[E, N, K/32, 16]</c> and
/// <c>X_scales</c> <c>[E, N, K/32]</c>), with its bias when it has one.
/// </summary>
public sealed class LinearWeight
{
    internal LinearWeight(string name, SourceTensor? weight, SourceTensor? blocks, SourceTensor? scales, SourceTensor? bias, int experts, int rows, int columns)
    {
        Name = name;
        Weight = weight;
        Blocks = blocks;
        Scales = scales;
        Bias = bias;
        Experts = experts;
        Rows = rows;
        Columns = columns;
    }

    /// <summary>The layer's name: the weight's name without <c>.weight</c> (or <c>_blocks</c>), as ISQ rules and importance files name layers.</summary>
    public string Name { get; }

    /// <summary>The weight (dense or GGUF-typed), or null for MXFP4 experts.</summary>
    public SourceTensor? Weight { get; }

    /// <summary>The MXFP4 codes, or null.</summary>
    public SourceTensor? Blocks { get; }

    /// <summary>The MXFP4 scales, or null.</summary>
    public SourceTensor? Scales { get; }

    /// <summary>The bias (<c>[N]</c> or <c>[E, N]</c>), or null.</summary>
    public SourceTensor? Bias { get; }

    /// <summary>Experts stacked in the weight (1 for a plain matrix).</summary>
    public int Experts { get; }

    /// <summary><c>N</c>: rows per expert.</summary>
    public int Rows { get; }

    /// <summary><c>K</c>: columns.</summary>
    public int Columns { get; }

    /// <summary>Whether the weight is GPT-OSS MXFP4.</summary>
    public bool IsMxfp4 => Blocks is not null;

    /// <summary>The stored type (<c>BF16</c>, <c>Q4_K</c>, <c>MXFP4</c>).</summary>
    public string TypeName => IsMxfp4 ? "MXFP4" : Weight!.TypeName;

    /// <summary>The bytes of the weight's tensors (bias included).</summary>
    public long Bytes => (Weight?.ByteLength ?? 0) + (Blocks?.ByteLength ?? 0) + (Scales?.ByteLength ?? 0) + (Bias?.ByteLength ?? 0);
}

/// <summary>How a unit's matrix is written.</summary>
public enum UnitTreatment
{
    /// <summary>Quantized to a format on the ISQ pool.</summary>
    Quantize,
    /// <summary>Kept as stored: a dense dtype (UQFF Unquant layer, GGUF F32 / F16 / BF16) or a GGUF block type.</summary>
    Keep,
    /// <summary>MXFP4 kept: a UQFF Mxfp4 layer, or repacked into GGUF's MXFP4 block records without requantizing.</summary>
    KeepMxfp4,
}

/// <summary>
/// One matrix of the output: a UQFF layer, or one expert's part of a GGUF tensor (<c>[N', K]</c>: the weight's rows, or
/// the even or odd ones).
/// </summary>
public sealed class QuantizeUnit
{
    internal QuantizeUnit(LinearWeight source, int? expert, RowSelection rows, int permuteHeads, UnitTreatment treatment, string typeName,
        string? format, string? rule, bool withBias, long outputBytes, string? note, bool allExperts = false)
    {
        AllExperts = allExperts;
        Source = source;
        Expert = expert;
        Rows = rows;
        PermuteHeads = permuteHeads;
        Treatment = treatment;
        TypeName = typeName;
        Format = format;
        Rule = rule;
        WithBias = withBias;
        OutputBytes = outputBytes;
        Note = note;
    }

    /// <summary>The linear weight it comes from.</summary>
    public LinearWeight Source { get; }

    /// <summary>The expert of a stacked weight it takes, or null for a plain one (or for all of them, <see cref="AllExperts"/>).</summary>
    public int? Expert { get; }

    /// <summary>Whether it takes every expert of a stacked weight at once (a UQFF Mxfp4 layer of GPT-OSS's experts, as mistral.rs writes them).</summary>
    public bool AllExperts { get; }

    /// <summary>Which rows it takes.</summary>
    public RowSelection Rows { get; }

    /// <summary>Heads whose rows are reordered to GGUF's rotary layout (llama's q / k), or 0.</summary>
    public int PermuteHeads { get; }

    /// <summary>How it is written.</summary>
    public UnitTreatment Treatment { get; }

    /// <summary>What it is written as: the format (<c>q4_K</c>), the dtype kept (<c>bf16</c>), <c>mxfp4</c>.</summary>
    public string TypeName { get; }

    /// <summary>The format it is quantized to, or null when it is kept.</summary>
    public string? Format { get; }

    /// <summary>The format's rule, or null for its default.</summary>
    public string? Rule { get; }

    /// <summary>Whether the bias goes into its blob (UQFF; GGUF keeps biases as tensors of their own).</summary>
    public bool WithBias { get; }

    /// <summary>Bytes it takes in the output (a UQFF blob, or its share of a GGUF tensor).</summary>
    public long OutputBytes { get; }

    /// <summary>Why it is not in the requested format, or null.</summary>
    public string? Note { get; }

    /// <summary><c>N'</c>: rows written.</summary>
    public int OutRows => Rows == RowSelection.All ? Source.Rows : Source.Rows / 2;

    /// <summary>Elements written.</summary>
    public long Elements => (long)OutRows * Source.Columns * (AllExperts ? Source.Experts : 1);

    /// <summary>Its share of the source's bytes (for progress and throughput).</summary>
    public long InputBytes => Source.Bytes / (AllExperts ? 1 : Source.Experts) / (Rows == RowSelection.All ? 1 : 2);

    /// <summary>The name tables show: the layer, its expert, the rows taken.</summary>
    public string DisplayName => Source.Name
        + (Expert is int e ? string.Create(CultureInfo.InvariantCulture, $"[{e}]") : "")
        + (Rows == RowSelection.All ? "" : Rows == RowSelection.Even ? " (even rows)" : " (odd rows)");

    /// <summary>The importance key: the layer's name.</summary>
    internal string ImportanceKey => Source.Name;
}

/// <summary>One step of a conversion, in output order.</summary>
public abstract class QuantizeStep
{
    private protected QuantizeStep() { }

    /// <summary>The name the output gives it (a GGUF tensor, a residual tensor, a UQFF layer).</summary>
    public abstract string OutputName { get; }

    /// <summary>Bytes it takes in the output.</summary>
    public abstract long OutputBytes { get; }

    /// <summary>Bytes of the checkpoint it reads.</summary>
    public abstract long InputBytes { get; }
}

/// <summary>A tensor that is not a linear layer (a norm, an embedding, a router, a bias in GGUF), kept: copied or converted to F32.</summary>
public sealed class ResidualStep : QuantizeStep
{
    internal ResidualStep(SourceTensor source, string outputName, int[] outputShape, DType? dtype, GgufTensorType? ggufType, RowSelection rows, long outputBytes)
    {
        Source = source;
        OutputName = outputName;
        OutputShape = outputShape;
        DType = dtype;
        GgufType = ggufType;
        Rows = rows;
        OutputBytes = outputBytes;
    }

    /// <summary>The checkpoint tensor.</summary>
    public SourceTensor Source { get; }

    /// <inheritdoc />
    public override string OutputName { get; }

    /// <summary>The shape written, slowest first.</summary>
    public int[] OutputShape { get; }

    /// <summary>The dtype written to <c>residual.safetensors</c> (UQFF), or null.</summary>
    public DType? DType { get; }

    /// <summary>The type written to GGUF, or null.</summary>
    public GgufTensorType? GgufType { get; }

    /// <summary>Which elements of the last dimension it takes (GPT-OSS's interleaved gate / up biases).</summary>
    public RowSelection Rows { get; }

    /// <inheritdoc />
    public override long OutputBytes { get; }

    /// <inheritdoc />
    public override long InputBytes => Rows == RowSelection.All ? Source.ByteLength : Source.ByteLength / 2;

    /// <summary>Whether the bytes are copied as stored (no conversion, no selection).</summary>
    public bool IsCopy => Rows == RowSelection.All
        && (DType is { } d ? Source.DType == d : GgufType is { } g && (g == GgufTensorType.F32 ? Source.DType == Tensors.DType.F32 && Source.GgufType is null : Source.GgufType == g));
}

/// <summary>A linear layer's output: one UQFF layer, or one GGUF tensor made of one unit or of every expert's unit in order.</summary>
public sealed class LinearStep : QuantizeStep
{
    internal LinearStep(string outputName, IReadOnlyList<QuantizeUnit> units, UqffModelLayer? layer, GgufTensorType? ggufType, long[]? ggufDims)
    {
        OutputName = outputName;
        Units = units;
        Layer = layer;
        GgufType = ggufType;
        GgufDims = ggufDims;
    }

    /// <inheritdoc />
    public override string OutputName { get; }

    /// <summary>Its units, in the order their bytes are written.</summary>
    public IReadOnlyList<QuantizeUnit> Units { get; }

    /// <summary>The UQFF layer it is, or null for GGUF.</summary>
    public UqffModelLayer? Layer { get; }

    /// <summary>The GGUF tensor's type, or null for UQFF.</summary>
    public GgufTensorType? GgufType { get; }

    /// <summary>The GGUF tensor's dims, fastest first, or null for UQFF.</summary>
    public long[]? GgufDims { get; }

    /// <inheritdoc />
    public override long OutputBytes => Units.Sum(u => u.OutputBytes);

    /// <inheritdoc />
    public override long InputBytes => Units.Sum(u => u.InputBytes);
}

/// <summary>
/// Orders tensor names in model order: embeddings first, then the blocks by number (<c>layers.2</c> before <c>layers.10</c>),
/// then everything else (the final norm, the output head); names of one rank compare as people read them.
/// </summary>
public sealed class ModelOrderComparer : IComparer<string>
{
    private static readonly System.Text.RegularExpressions.Regex s_block = new(@"(^|\.)(layers|blk|h)\.\d+\.", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>The one instance.</summary>
    public static ModelOrderComparer Instance { get; } = new();

    /// <inheritdoc />
    public int Compare(string? x, string? y)
    {
        int rank = Rank(x).CompareTo(Rank(y));
        return rank != 0 ? rank : NaturalComparer.Instance.Compare(x, y);
    }

    private static int Rank(string? name) => name is null ? -1
        : s_block.IsMatch(name) ? 1
        : name.Contains("embed", StringComparison.Ordinal) || name.StartsWith("token_embd", StringComparison.Ordinal) ? 0
        : 2;
}

/// <summary>Orders names as people read them: <c>layers.2</c> before <c>layers.10</c>.</summary>
public sealed class NaturalComparer : IComparer<string>
{
    /// <summary>The one instance.</summary>
    public static NaturalComparer Instance { get; } = new();

    /// <inheritdoc />
    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y)) return 0;
        if (x is null) return -1;
        if (y is null) return 1;
        int i = 0, j = 0;
        while (i < x.Length && j < y.Length)
        {
            if (char.IsAsciiDigit(x[i]) && char.IsAsciiDigit(y[j]))
            {
                int si = i, sj = j;
                while (i < x.Length && char.IsAsciiDigit(x[i])) i++;
                while (j < y.Length && char.IsAsciiDigit(y[j])) j++;
                var a = x.AsSpan(si, i - si).TrimStart('0');
                var b = y.AsSpan(sj, j - sj).TrimStart('0');
                if (a.Length != b.Length) return a.Length.CompareTo(b.Length);
                int c = a.SequenceCompareTo(b);
                if (c != 0) return c;
            }
            else
            {
                int c = x[i].CompareTo(y[j]);
                if (c != 0) return c;
                i++;
                j++;
            }
        }
        int rest = (x.Length - i).CompareTo(y.Length - j);
        return rest != 0 ? rest : string.CompareOrdinal(x, y);
    }
}
