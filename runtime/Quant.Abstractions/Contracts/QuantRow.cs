using System;

namespace Quant;

/// <summary>
/// One row of a quantized matrix: <see cref="Columns"/> elements, stored as up to four planes (a format
/// with its fields in one block record has one plane; mxfp4's checkpoint layout has two, blocks then scales).
/// </summary>
public readonly ref struct QuantRow
{
    /// <summary>Creates a row view.</summary>
    /// <param name="columns">Elements in the row (<c>K</c>).</param>
    /// <param name="plane0">The first plane's bytes for this row.</param>
    /// <param name="plane1">The second plane's bytes, if the format has one.</param>
    /// <param name="plane2">The third plane's bytes, if the format has one.</param>
    /// <param name="plane3">The fourth plane's bytes, if the format has one.</param>
    public QuantRow(int columns, ReadOnlySpan<byte> plane0, ReadOnlySpan<byte> plane1 = default,
        ReadOnlySpan<byte> plane2 = default, ReadOnlySpan<byte> plane3 = default)
    {
        Columns = columns;
        Plane0 = plane0;
        Plane1 = plane1;
        Plane2 = plane2;
        Plane3 = plane3;
    }

    /// <summary>Elements in the row.</summary>
    public int Columns { get; }

    /// <summary>The first plane.</summary>
    public ReadOnlySpan<byte> Plane0 { get; }

    /// <summary>The second plane (empty when the format has one plane).</summary>
    public ReadOnlySpan<byte> Plane1 { get; }

    /// <summary>The third plane.</summary>
    public ReadOnlySpan<byte> Plane2 { get; }

    /// <summary>The fourth plane.</summary>
    public ReadOnlySpan<byte> Plane3 { get; }

    /// <summary>The plane with index <paramref name="plane"/> (0 to 3).</summary>
    public ReadOnlySpan<byte> this[int plane] => plane switch
    {
        0 => Plane0,
        1 => Plane1,
        2 => Plane2,
        3 => Plane3,
        _ => throw new ArgumentOutOfRangeException(nameof(plane)),
    };
}

/// <summary>The writable planes of one row, for quantization.</summary>
public readonly ref struct QuantRowWriter
{
    /// <summary>Creates a writable row view.</summary>
    public QuantRowWriter(int columns, Span<byte> plane0, Span<byte> plane1 = default,
        Span<byte> plane2 = default, Span<byte> plane3 = default)
    {
        Columns = columns;
        Plane0 = plane0;
        Plane1 = plane1;
        Plane2 = plane2;
        Plane3 = plane3;
    }

    /// <summary>Elements in the row.</summary>
    public int Columns { get; }

    /// <summary>The first plane.</summary>
    public Span<byte> Plane0 { get; }

    /// <summary>The second plane.</summary>
    public Span<byte> Plane1 { get; }

    /// <summary>The third plane.</summary>
    public Span<byte> Plane2 { get; }

    /// <summary>The fourth plane.</summary>
    public Span<byte> Plane3 { get; }

    /// <summary>The same planes, read-only.</summary>
    public QuantRow AsReadOnly() => new(Columns, Plane0, Plane1, Plane2, Plane3);
}

/// <summary>Options of one quantization call.</summary>
public readonly ref struct QuantizeOptions
{
    /// <summary>Options that pick a rule by index (-1: the format's default) and an optional importance row.</summary>
    /// <param name="rule">Index into <see cref="QuantFormatInfo.Rules"/>, or -1 for the default rule.</param>
    /// <param name="importance">Per-column importance (an imatrix row of <c>K</c> floats), or empty.</param>
    public QuantizeOptions(int rule, ReadOnlySpan<float> importance = default)
    {
        Rule = rule;
        Importance = importance;
    }

    /// <summary>Index into <see cref="QuantFormatInfo.Rules"/>, or -1 for the default rule.</summary>
    public int Rule { get; }

    /// <summary>Per-column importance weights, or empty. Formats whose rules ignore it quantize the same either way.</summary>
    public ReadOnlySpan<float> Importance { get; }

    /// <summary>The default rule, no importance matrix.</summary>
    public static QuantizeOptions Default => new(-1);
}
