using System;
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
    /// <exception cref="QuantFormatException">A plane's length does not match the shape.</exception>
    public QuantMatrix(QuantFormatInfo format, int rows, int columns, Memory<byte>[] planes)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(planes);
        if (rows < 0) throw new QuantFormatException($"A matrix cannot have {rows} rows.");
        format.CheckColumns(columns);
        if (planes.Length != format.Planes.Count)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"Format '{format.Name}' has {format.Planes.Count} planes; got {planes.Length}."));
        }
        for (int p = 0; p < planes.Length; p++)
        {
            long expected = format.PlaneBytes(p, rows, columns);
            if (planes[p].Length != expected)
            {
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"Plane '{format.Planes[p].Name}' of a {rows} x {columns} {format.Name} matrix must hold {expected} bytes; it holds {planes[p].Length}."));
            }
        }
        Format = format;
        Rows = rows;
        Columns = columns;
        _planes = planes;
    }

    /// <summary>The format.</summary>
    public QuantFormatInfo Format { get; }

    /// <summary>Rows (<c>N</c>, outputs).</summary>
    public int Rows { get; }

    /// <summary>Columns (<c>K</c>, inputs).</summary>
    public int Columns { get; }

    /// <summary>Bytes of all planes together.</summary>
    public long Bytes => Format.MatrixBytes(Rows, Columns);

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
            PlaneExtent.Tensor => _planes[plane].Span,
            PlaneExtent.Tile => _planes[plane].Span.Slice(row / Format.TileRows * rowBytes, rowBytes),
            _ => _planes[plane].Span.Slice(checked(row * rowBytes), rowBytes),
        };
    }

    private static Memory<byte>[] AllocatePlanes(QuantFormatInfo format, int rows, int columns)
    {
        format.CheckColumns(columns);
        var planes = new Memory<byte>[format.Planes.Count];
        for (int p = 0; p < planes.Length; p++) planes[p] = new byte[format.PlaneBytes(p, rows, columns)];
        return planes;
    }
}
