using System;
using System.Collections.Generic;
using System.Globalization;

namespace Quant;

/// <summary>
/// A quantized weight matrix <c>W [Rows, Columns]</c> (<c>[N, K]</c>, one output per row) on the CPU:
/// one byte buffer per plane of its format. Stacked experts are a matrix of <c>E * N</c> rows.
/// </summary>
public sealed class QuantMatrix
{
    private readonly Memory<byte>[] _planes;

    /// <summary>Allocates zeroed planes for a <paramref name="rows"/> x <paramref name="columns"/> matrix.</summary>
    /// <exception cref="QuantFormatException"><paramref name="columns"/> is not a multiple of the block size.</exception>
    public QuantMatrix(QuantFormatInfo format, int rows, int columns)
        : this(format, rows, columns, AllocatePlanes(format, rows, columns))
    {
    }

    /// <summary>Wraps existing planes (for example read from a file), checking each one's length.</summary>
    /// <param name="format">The format.</param>
    /// <param name="rows">Rows (<c>N</c>, or <c>E * N</c> for stacked experts).</param>
    /// <param name="columns">Columns (<c>K</c>).</param>
    /// <param name="planes">One buffer per plane.</param>
    /// <param name="experts">
    /// Experts stacked in the rows (1 for a plain matrix): a per-tensor plane then holds one value per expert,
    /// and each row sees its own expert's.
    /// </param>
    /// <exception cref="QuantFormatException">A plane's length does not match the shape.</exception>
    public QuantMatrix(QuantFormatInfo format, int rows, int columns, Memory<byte>[] planes, int experts = 1)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(planes);
        if (rows < 0) throw new QuantFormatException($"A matrix cannot have {rows} rows.");
        if (experts < 1 || rows % experts != 0) throw new QuantFormatException($"{rows} rows do not split into {experts} experts.");
        format.CheckColumns(columns);
        if (planes.Length != format.Planes.Count)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"Format '{format.Name}' has {format.Planes.Count} planes; got {planes.Length}."));
        }
        for (int p = 0; p < planes.Length; p++)
        {
            // Per-tensor and per-tile planes belong to each expert: a tile never spans two experts' rows.
            long expected = format.Planes[p].Extent is PlaneExtent.Tensor or PlaneExtent.Tile
                ? format.PlaneBytes(p, rows / experts, columns) * experts
                : format.PlaneBytes(p, rows, columns);
            if (planes[p].Length != expected)
            {
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"Plane '{format.Planes[p].Name}' of a {rows} x {columns} {format.Name} matrix must hold {expected} bytes; it holds {planes[p].Length}."));
            }
        }
        Format = format;
        Rows = rows;
        Columns = columns;
        Experts = experts;
        _planes = planes;
    }

    /// <summary>
    /// Stacks matrices of one format and shape row-wise into one matrix of stacked experts (<c>[E * N, K]</c>),
    /// each keeping its own per-tensor values.
    /// </summary>
    /// <exception cref="ArgumentException">The matrices differ in format or shape.</exception>
    public static QuantMatrix Stack(IReadOnlyList<QuantMatrix> experts)
    {
        ArgumentNullException.ThrowIfNull(experts);
        if (experts.Count == 0) throw new ArgumentException("There is nothing to stack.", nameof(experts));
        var first = experts[0];
        int experts0 = 0, rows = 0;
        foreach (var expert in experts)
        {
            if (!ReferenceEquals(expert.Format, first.Format) || expert.Rows / expert.Experts != first.Rows / first.Experts || expert.Columns != first.Columns)
            {
                throw new ArgumentException("Stacked experts must share one format and one shape.", nameof(experts));
            }
            experts0 += expert.Experts;
            rows += expert.Rows;
        }
        var planes = new Memory<byte>[first._planes.Length];
        for (int p = 0; p < planes.Length; p++)
        {
            long total = 0;
            foreach (var expert in experts) total += expert._planes[p].Length;
            var bytes = new byte[total];
            int at = 0;
            foreach (var expert in experts)
            {
                expert._planes[p].Span.CopyTo(bytes.AsSpan(at));
                at += expert._planes[p].Length;
            }
            planes[p] = bytes;
        }
        return new QuantMatrix(first.Format, rows, first.Columns, planes, experts0);
    }

    /// <summary>The format.</summary>
    public QuantFormatInfo Format { get; }

    /// <summary>Rows (<c>N</c>, outputs).</summary>
    public int Rows { get; }

    /// <summary>Columns (<c>K</c>, inputs).</summary>
    public int Columns { get; }

    /// <summary>Experts stacked in the rows (1 for a plain matrix).</summary>
    public int Experts { get; }

    /// <summary>Bytes of all planes together.</summary>
    public long Bytes
    {
        get
        {
            long total = 0;
            foreach (var plane in _planes) total += plane.Length;
            return total;
        }
    }

    /// <summary>The bytes of plane <paramref name="plane"/>.</summary>
    public Memory<byte> Plane(int plane) => _planes[plane];

    /// <summary>Row <paramref name="row"/> as one span per plane.</summary>
    public QuantRow Row(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        return _planes.Length switch
        {
            1 => new QuantRow(Columns, Slice(0, row)),
            2 => new QuantRow(Columns, Slice(0, row), Slice(1, row)),
            3 => new QuantRow(Columns, Slice(0, row), Slice(1, row), Slice(2, row)),
            _ => new QuantRow(Columns, Slice(0, row), Slice(1, row), Slice(2, row), Slice(3, row)),
        };
    }

    /// <summary>Row <paramref name="row"/> as writable spans, for quantization.</summary>
    public QuantRowWriter RowWriter(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        return _planes.Length switch
        {
            1 => new QuantRowWriter(Columns, Slice(0, row)),
            2 => new QuantRowWriter(Columns, Slice(0, row), Slice(1, row)),
            3 => new QuantRowWriter(Columns, Slice(0, row), Slice(1, row), Slice(2, row)),
            _ => new QuantRowWriter(Columns, Slice(0, row), Slice(1, row), Slice(2, row), Slice(3, row)),
        };
    }

    private Span<byte> Slice(int plane, int row)
    {
        var info = Format.Planes[plane];
        int rowBytes = Format.RowBytes(plane, Columns);
        return info.Extent switch
        {
            PlaneExtent.Tensor => _planes[plane].Span.Slice(row / (Rows / Experts) * info.BytesPerBlock, info.BytesPerBlock),
            PlaneExtent.Tile => _planes[plane].Span.Slice(TileIndex(row) * rowBytes, rowBytes),
            _ => _planes[plane].Span.Slice(checked(row * rowBytes), rowBytes),
        };
    }

    // The tile row holding a row's scales: each expert's rows start a fresh tile.
    private int TileIndex(int row)
    {
        int perExpert = Rows / Experts;
        int tilesPerExpert = (perExpert + Format.TileRows - 1) / Format.TileRows;
        return row / perExpert * tilesPerExpert + row % perExpert / Format.TileRows;
    }

    private static Memory<byte>[] AllocatePlanes(QuantFormatInfo format, int rows, int columns)
    {
        format.CheckColumns(columns);
        var planes = new Memory<byte>[format.Planes.Count];
        for (int p = 0; p < planes.Length; p++) planes[p] = new byte[format.PlaneBytes(p, rows, columns)];
        return planes;
    }
}
