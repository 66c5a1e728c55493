using System;
using System.Globalization;

namespace Quant;

/// <summary>
/// Argument checks that every generated row kernel makes once per call, before its unchecked inner
/// loops: lengths against the format's block size and every plane against the bytes it must hold.
/// </summary>
public static class QuantRowChecks
{
    /// <summary>Checks a row and an activation of <paramref name="length"/> floats; returns the row's block count.</summary>
    /// <exception cref="QuantFormatException">The row length is not a whole number of blocks.</exception>
    /// <exception cref="ArgumentException">A length does not match, or a plane is too short.</exception>
    public static int Row(in QuantRow row, QuantFormatInfo info, int length)
    {
        info.CheckColumns(row.Columns);
        if (length != row.Columns)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The activation holds {length} floats for a row of {row.Columns}."));
        }
        int blocks = row.Columns / info.BlockSize;
        for (int p = 0; p < info.Planes.Count; p++) CheckPlane(row[p].Length, info, p, blocks);
        return blocks;
    }

    /// <summary>Checks a block range of a row for dequantization; returns the number of blocks to write.</summary>
    public static int Blocks(in QuantRow row, QuantFormatInfo info, int firstBlock, int destinationLength)
    {
        info.CheckColumns(row.Columns);
        int rowBlocks = row.Columns / info.BlockSize;
        if (destinationLength % info.BlockSize != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The destination holds {destinationLength} floats, not a whole number of {info.BlockSize}-element blocks."));
        }
        int blocks = destinationLength / info.BlockSize;
        if (firstBlock < 0 || firstBlock + (long)blocks > rowBlocks)
        {
            throw new ArgumentOutOfRangeException(nameof(firstBlock), string.Create(CultureInfo.InvariantCulture,
                $"Blocks {firstBlock} to {firstBlock + (long)blocks} do not lie in a row of {rowBlocks} blocks."));
        }
        for (int p = 0; p < info.Planes.Count; p++) CheckPlane(row[p].Length, info, p, rowBlocks);
        return blocks;
    }

    /// <summary>Checks a row to quantize into; returns its block count.</summary>
    public static int Writer(in QuantRowWriter row, QuantFormatInfo info, int sourceLength)
    {
        info.CheckColumns(row.Columns);
        if (sourceLength != row.Columns)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The source holds {sourceLength} floats for a row of {row.Columns}."));
        }
        int blocks = row.Columns / info.BlockSize;
        var view = row.AsReadOnly();
        for (int p = 0; p < info.Planes.Count; p++) CheckPlane(view[p].Length, info, p, blocks);
        return blocks;
    }

    private static void CheckPlane(int length, QuantFormatInfo info, int plane, int blocks)
    {
        var planeInfo = info.Planes[plane];
        long needed = planeInfo.Extent == PlaneExtent.Tensor ? planeInfo.BytesPerBlock : (long)blocks * planeInfo.BytesPerBlock;
        if (length < needed)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Plane '{info.Planes[plane].Name}' of a {info.Name} row of {blocks} blocks needs {needed} bytes; it has {length}."));
        }
    }
}
