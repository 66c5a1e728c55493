using System;
using System.Collections.Generic;
using System.Globalization;

namespace Quant;

/// <summary>What a plane's bytes are counted per.</summary>
public enum PlaneExtent
{
    /// <summary><c>BytesPerBlock</c> bytes for every block of every row.</summary>
    Block,
    /// <summary><c>BytesPerBlock</c> bytes for every block of every <see cref="QuantFormatInfo.TileRows"/> rows (2-D tiles).</summary>
    Tile,
    /// <summary><c>BytesPerBlock</c> bytes for the whole tensor.</summary>
    Tensor,
}

/// <summary>What a plane's bytes are when it is written as a tensor of its own.</summary>
public enum PlaneElement
{
    /// <summary>Packed bytes (codes, or a block record).</summary>
    Bytes,
    /// <summary>IEEE binary32 values.</summary>
    F32,
    /// <summary>IEEE binary16 values.</summary>
    F16,
    /// <summary>bfloat16 values.</summary>
    BF16,
    /// <summary>E8M0 exponents (one byte each).</summary>
    E8M0,
    /// <summary>OCP FP8 E4M3 values (one byte each).</summary>
    E4M3,
}

/// <summary>One plane of a format: a tensor of its own in checkpoint layouts, or the whole block record.</summary>
/// <param name="Name">The plane's name (<c>blocks</c>, <c>scales</c>); checkpoint tensors are named after it.</param>
/// <param name="BytesPerBlock">Bytes of this plane per block (per tile, or in all for <see cref="PlaneExtent.Tensor"/>).</param>
/// <param name="Extent">What the bytes are counted per.</param>
/// <param name="Element">What the bytes are: a plane that holds one scale per block has that scale's type.</param>
public sealed record QuantPlaneInfo(string Name, int BytesPerBlock, PlaneExtent Extent = PlaneExtent.Block, PlaneElement Element = PlaneElement.Bytes);

/// <summary>A named quantization rule of a format.</summary>
/// <param name="Name">The rule's name, as <c>--rule</c> takes it.</param>
/// <param name="Rule">Its algorithm.</param>
/// <param name="IsDefault">True for the format's default rule.</param>
/// <param name="Description">One line about it.</param>
public sealed record QuantRuleInfo(string Name, ScaleRule Rule, bool IsDefault, string? Description);

/// <summary>
/// Everything the runtime needs to know about a format without its kernels: its block shape, planes,
/// identity in UQFF and GGUF, and its quantization rules. Generated for each declaration.
/// </summary>
public sealed class QuantFormatInfo
{
    private readonly QuantPlaneInfo[] _planes;
    private readonly QuantRuleInfo[] _rules;

    /// <summary>Creates a descriptor; generated code calls this once per format.</summary>
    public QuantFormatInfo(string name, int blockSize, int subBlockSize, int tileRows,
        QuantPlaneInfo[] planes, QuantRuleInfo[] rules, UqffLayer uqff, int ggufType,
        string? vecDotType, string? description, int codeBits)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(planes);
        ArgumentNullException.ThrowIfNull(rules);
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize));
        if (planes.Length is 0 or > 4) throw new ArgumentException("A format has 1 to 4 planes.", nameof(planes));
        Name = name;
        BlockSize = blockSize;
        SubBlockSize = subBlockSize;
        TileRows = Math.Max(1, tileRows);
        _planes = planes;
        _rules = rules;
        Uqff = uqff;
        GgufType = ggufType;
        VecDotType = vecDotType;
        Description = description;
        CodeBits = codeBits;
        DefaultRule = Math.Max(0, Array.FindIndex(rules, r => r.IsDefault));
        foreach (var plane in planes)
        {
            if (plane.Extent == PlaneExtent.Block) BytesPerBlock += plane.BytesPerBlock;
        }
    }

    /// <summary>The format's name (<c>q4_0</c>).</summary>
    public string Name { get; }

    /// <summary>Elements per block along a row.</summary>
    public int BlockSize { get; }

    /// <summary>Elements per sub-block, or 0 when blocks have no sub-blocks.</summary>
    public int SubBlockSize { get; }

    /// <summary>Rows that share a tile's scale (1 for row-local blocks).</summary>
    public int TileRows { get; }

    /// <summary>Bits of each element code.</summary>
    public int CodeBits { get; }

    /// <summary>The planes, in declaration order (the order of raw files and UQFF records).</summary>
    public IReadOnlyList<QuantPlaneInfo> Planes => _planes;

    /// <summary>Bytes of every per-block plane together, for one block.</summary>
    public int BytesPerBlock { get; }

    /// <summary>Storage bits per weight, tile and tensor planes excluded (they vanish as the matrix grows).</summary>
    public double BitsPerWeight => BytesPerBlock * 8.0 / BlockSize;

    /// <summary>The UQFF layer type, or <see cref="UqffLayer.None"/>.</summary>
    public UqffLayer Uqff { get; }

    /// <summary>The ggml / GGUF type id, or -1.</summary>
    public int GgufType { get; }

    /// <summary>The activation format for integer dot products (ggml's vec_dot_type), or null.</summary>
    public string? VecDotType { get; }

    /// <summary>One line about the format.</summary>
    public string? Description { get; }

    /// <summary>The quantization rules, in declaration order.</summary>
    public IReadOnlyList<QuantRuleInfo> Rules => _rules;

    /// <summary>The index of the default rule in <see cref="Rules"/>.</summary>
    public int DefaultRule { get; }

    /// <summary>The index of the rule named <paramref name="rule"/>; null or empty means the default.</summary>
    /// <exception cref="QuantFormatException">The format has no rule of that name.</exception>
    public int FindRule(string? rule)
    {
        if (string.IsNullOrEmpty(rule)) return DefaultRule;
        for (int i = 0; i < _rules.Length; i++)
        {
            if (string.Equals(_rules[i].Name, rule, StringComparison.OrdinalIgnoreCase)) return i;
        }
        throw new QuantFormatException(
            $"Format '{Name}' has no quantization rule '{rule}'; it has: {string.Join(", ", Array.ConvertAll(_rules, r => r.Name))}.");
    }

    /// <summary>Resolves a rule index where -1 means the default.</summary>
    public int ResolveRule(int rule) => rule < 0 ? DefaultRule : rule;

    /// <summary>Checks that a row length is a positive multiple of the block size.</summary>
    /// <exception cref="QuantFormatException">It is not.</exception>
    public void CheckColumns(long columns)
    {
        if (columns <= 0 || columns % BlockSize != 0)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"Format '{Name}' needs a row length that is a positive multiple of {BlockSize}; got {columns}."));
        }
    }

    /// <summary>Bytes of plane <paramref name="plane"/> in one row of <paramref name="columns"/> elements.</summary>
    /// <exception cref="QuantFormatException">A row that wide does not fit in 2 GB.</exception>
    public int RowBytes(int plane, int columns)
    {
        if (_planes[plane].Extent == PlaneExtent.Tensor) return _planes[plane].BytesPerBlock;
        long bytes = (long)columns / BlockSize * _planes[plane].BytesPerBlock;
        return bytes <= int.MaxValue ? (int)bytes : throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
            $"A {Name} row of {columns} elements needs {bytes} bytes in plane '{_planes[plane].Name}', more than a row can hold."));
    }

    /// <summary>Bytes of every per-block plane of one row together.</summary>
    public long RowBytes(int columns) => (long)columns / BlockSize * BytesPerBlock;

    /// <summary>Bytes of plane <paramref name="plane"/> for a whole <paramref name="rows"/> x <paramref name="columns"/> matrix.</summary>
    /// <exception cref="QuantFormatException">The count does not fit in 64 bits (a corrupt shape).</exception>
    public long PlaneBytes(int plane, long rows, int columns)
    {
        try
        {
            return _planes[plane].Extent switch
            {
                PlaneExtent.Tensor => _planes[plane].BytesPerBlock,
                PlaneExtent.Tile => checked((rows + TileRows - 1) / TileRows * RowBytes(plane, columns)),
                _ => checked(rows * RowBytes(plane, columns)),
            };
        }
        catch (OverflowException)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"A {rows} x {columns} {Name} matrix is too large to count its bytes."));
        }
    }

    /// <summary>Bytes of all planes of a matrix together.</summary>
    /// <exception cref="QuantFormatException">The count does not fit in 64 bits (a corrupt shape).</exception>
    public long MatrixBytes(long rows, int columns)
    {
        long total = 0;
        for (int p = 0; p < _planes.Length; p++)
        {
            total += PlaneBytes(p, rows, columns);
            if (total < 0) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"A {rows} x {columns} {Name} matrix is too large to count its bytes."));
        }
        return total;
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}
