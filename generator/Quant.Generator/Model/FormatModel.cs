using Quant.Generator.Helpers;

namespace Quant.Generator.Model;

// The generator's view of one format declaration. Every record here is a plain value (strings, numbers,
// nested records, EquatableArray), so unchanged declarations compare equal and their output is cached.
// The enums mirror the public ones in Quant.Abstractions (same names and values); emitters write
// them back as `global::Quant.<Enum>.<Member>`.

internal enum ScaleCodeKind { F32, F16, BF16, E8M0, E4M3 }

internal enum PackingKind { Sequential, SequentialHighFirst, Sliced }

internal enum MinModeKind { Add, SubtractScaled, ZeroPoint }

internal enum MinifloatSpecialsKind { None, NanOnly, Ieee }

internal enum RuleKind { AbsMax, SignedMax, MinMax, SharedExponent, SharedExponentMistralRs, ErrorMinimizing, RoundToNearest, GgmlKQuant, GgmlIq4, ReciprocalSignedMax, Affine, ZeroPointMinMax, HalfQuadratic }

internal enum RoundingKind { NearestEven, NearestLowestCode }

internal enum OverflowKind { Saturate, Infinity }

internal enum UqffLayerKind { None = -1, Gguf = 0, Unquant = 1, Hqq = 2, Fp8 = 3, Afq = 4, F8Q8 = 5, Mxfp4 = 6 }

internal enum FieldRole { Scale, Min, Codes, HighBits, SubScales, SubScaleHighBits, TensorScale, BlockSum, GroupSums }

internal enum ElementKind { Integer, Codebook, Minifloat }

/// <summary>Where the declaration lives: enough to reopen the partial class.</summary>
/// <param name="Namespace">The namespace, or empty for the global one.</param>
/// <param name="Name">The class name (<c>Q4_0</c>).</param>
/// <param name="ContainingTypes">Declarations of the enclosing partial types, outermost first (<c>partial class Outer</c>).</param>
internal sealed record TypeLocation(string Namespace, string Name, EquatableArray<string> ContainingTypes)
{
    /// <summary>The name used in generated file names: containing types and the class, dot-separated.</summary>
    public string FileStem => ContainingTypes.Count == 0 ? Name : string.Join(".", System.Linq.Enumerable.Select(ContainingTypes, c => c.Substring(c.LastIndexOf(' ') + 1))) + "." + Name;
}

/// <summary>A plane: the block record (fields declared without a plane) or a separate tensor.</summary>
/// <param name="Name">The plane's name.</param>
/// <param name="BytesPerBlock">Bytes per block, or in all for a per-tensor plane.</param>
/// <param name="PerTensor">True for a plane that holds one value for the whole tensor.</param>
/// <param name="Element">The PlaneElement member name of the plane's values ("Bytes" unless it holds one scale per block).</param>
/// <param name="PerTile">True for a plane of per-tile values shared by TileRows rows (blockwise FP8's scales).</param>
internal sealed record PlaneModel(string Name, int BytesPerBlock, bool PerTensor = false, string Element = "Bytes", bool PerTile = false)
{
    /// <summary>True when the plane is shared by several rows, so that row-level code must neither clear nor write it.</summary>
    public bool Shared => PerTensor || PerTile;
}

/// <summary>One field of a block, in its plane at a byte offset.</summary>
internal sealed record FieldModel(string Name, FieldRole Role, int Plane, int Offset, int Size);

/// <summary>A part of each element's code stored in one field: <c>code |= ((read field) &amp; mask) &lt;&lt; Shift</c>.</summary>
internal sealed record CodePartModel(int Field, int Bits, PackingKind Packing, int Stride, int Shift);

/// <summary>How codes become values.</summary>
/// <param name="Bits">Total bits of a code (all parts).</param>
/// <param name="Parts">The fields the code is assembled from, low bits first.</param>
/// <param name="Kind">Integer, codebook or minifloat.</param>
/// <param name="Offset">Integer codes: subtracted from each code.</param>
/// <param name="Signed">Integer codes: two's complement.</param>
/// <param name="Table">Codebook and minifloat codes: the value of every code (minifloats derived exactly).</param>
/// <param name="IntLog2Factor">
/// k &gt;= 0 when every table entry times 2^k is an integer in [-128, 127]: SIMD paths then look codes up as
/// bytes with one shuffle and multiply by 2^-k. -1 otherwise.
/// </param>
/// <param name="ExponentBits">Minifloat exponent bits (0 otherwise).</param>
/// <param name="MantissaBits">Minifloat mantissa bits.</param>
/// <param name="Bias">Minifloat exponent bias.</param>
/// <param name="Specials">Minifloat special codes.</param>
internal sealed record CodeModel(
    int Bits,
    EquatableArray<CodePartModel> Parts,
    ElementKind Kind,
    int Offset,
    bool Signed,
    EquatableArray<float> Table,
    int IntLog2Factor,
    int ExponentBits,
    int MantissaBits,
    int Bias,
    MinifloatSpecialsKind Specials)
{
    /// <summary>The integer value range of a code, for integer codes.</summary>
    public int MinValue => Signed ? -(1 << (Bits - 1)) : -Offset;

    /// <summary>The largest integer value of a code, for integer codes.</summary>
    public int MaxValue => Signed ? (1 << (Bits - 1)) - 1 : (1 << Bits) - 1 - Offset;

    /// <summary>True when values fit a signed byte, so SIMD paths keep them as <c>sbyte</c>.</summary>
    public bool ValuesFitSByte => Kind == ElementKind.Integer ? MinValue >= -128 && MaxValue <= 127 : IntLog2Factor >= 0;
}

/// <summary>A scale (block, tensor) or a derived sum: where it is stored and how.</summary>
/// <param name="Field">The field.</param>
/// <param name="Code">How it is stored.</param>
/// <param name="Divisor">The stored code holds the value times this (1 for most formats).</param>
internal sealed record ScaleModel(int Field, ScaleCodeKind Code, float Divisor = 1f);

/// <summary>The block minimum, bias or zero point.</summary>
internal sealed record MinModel(int Field, ScaleCodeKind Code, MinModeKind Mode);

/// <summary>Integer sub-scales (and sub-mins) of a super-block (K-quants).</summary>
/// <param name="Field">The field of the low bits (the escape hatch reads this field whole).</param>
/// <param name="Parts">The fields each code is assembled from, low bits first (empty with an escape hatch).</param>
/// <param name="Bits">Total bits of a sub-scale code.</param>
/// <param name="Count">Sub-blocks per block (the number of scales; as many mins follow with <paramref name="WithMins"/>).</param>
/// <param name="Offset">Subtracted from each scale code.</param>
/// <param name="Signed">Scale codes are two's complement.</param>
/// <param name="WithMins">The field also holds one min code per sub-block, after the scales.</param>
/// <param name="Unpack">Escape-hatch unpacking method of the declaration, or null.</param>
/// <param name="Pack">Its inverse, or null.</param>
/// <param name="DeviceUnpack">The device-C counterpart of <paramref name="Unpack"/> (a function body), or null.</param>
internal sealed record SubScaleModel(int Field, EquatableArray<CodePartModel> Parts, int Bits, int Count, int Offset, bool Signed, bool WithMins, string? Unpack, string? Pack, string? DeviceUnpack = null);

/// <summary>Int16 sums of the integer values of each run of <paramref name="Elements"/> elements.</summary>
internal sealed record GroupSumsModel(int Field, int Elements);

/// <summary>A named quantization rule.</summary>
internal sealed record RuleModel(string Name, RuleKind Kind, bool IsDefault, string? Description, RoundingKind Rounding, OverflowKind Overflow, bool RoundZeroPoint = false, int Steps = 20);

/// <summary>Everything one format declaration says, checked.</summary>
internal sealed record FormatModel(
    TypeLocation Type,
    string Name,
    string? Description,
    UqffLayerKind Uqff,
    int GgufType,
    string? VecDotType,
    int BlockSize,
    int SubBlockSize,
    int TileRows,
    EquatableArray<PlaneModel> Planes,
    EquatableArray<FieldModel> Fields,
    CodeModel Code,
    ScaleModel? Scale,
    MinModel? Min,
    SubScaleModel? SubScales,
    ScaleModel? TensorScale,
    ScaleModel? BlockSum,
    GroupSumsModel? GroupSums,
    EquatableArray<RuleModel> Rules)
{
    /// <summary>Bytes of every per-block plane per block.</summary>
    public int BytesPerBlock => System.Linq.Enumerable.Sum(Planes, p => p.PerTensor ? 0 : p.BytesPerBlock);

    /// <summary>
    /// True when the scale is an E8M0 power of two and the codebook is kept as integers: the factor 2^-k
    /// is then folded into the scale, exactly, everywhere (ggml's half-scale for MXFP4).
    /// </summary>
    public bool FoldsFactorIntoScale => Code.Kind != ElementKind.Integer && Code.IntLog2Factor > 0 && Scale?.Code == ScaleCodeKind.E8M0;

    /// <summary>True for 2-D tiles: the block scale is shared by TileRows rows and computed from the whole matrix.</summary>
    public bool Tiled => TileRows > 1;

    /// <summary>Blocks of fewer than 16 elements (f16, bf16): the SIMD paths step over 16 / BlockSize of them at a time.</summary>
    public int SimdStepBlocks => BlockSize >= 16 ? 1 : 16 / BlockSize;

    /// <summary>The type's full name, for messages.</summary>
    public string TypeName => Type.Namespace.Length == 0 ? Type.FileStem : Type.Namespace + "." + Type.FileStem;
}

/// <summary>What two declarations must not share, and where the declaration is (for the duplicate diagnostics).</summary>
internal sealed record FormatIdentity(string Name, string TypeName, UqffLayerKind Uqff, int GgufType, int CodeBits, int BlockSize, Diagnostics.DiagnosticInfo Where);

/// <summary>The result of parsing one declaration: a model when it is valid, its identity, and its diagnostics.</summary>
internal sealed record ParseResult(FormatModel? Model, FormatIdentity? Identity, EquatableArray<Diagnostics.DiagnosticInfo> Diagnostics);
