using System;

namespace Quant.Cli.Tests;

/// <summary>
/// How a raw quantized file's size turns into a row count, for formats whose planes are all per block
/// (every built-in one) and for formats with tile or whole-tensor planes, declared here synthetically.
/// </summary>
public sealed class RawFilesTests
{
    private const int K = 256;

    private static QuantFormatInfo Format(int tileRows, params QuantPlaneInfo[] planes)
        => new("synthetic", blockSize: 32, subBlockSize: 0, tileRows, planes, [], UqffLayer.None, ggufType: -1,
            vecDotType: null, description: null, codeBits: 4);

    [Fact]
    public void BlockPlanes_RowsAreSizeOverRowBytes()
    {
        // 8 blocks per row: 8 * (16 + 1) = 136 bytes per row.
        var format = Format(1, new QuantPlaneInfo("blocks", 16), new QuantPlaneInfo("scales", 1));
        for (int rows = 1; rows <= 9; rows++)
        {
            Assert.Equal(rows, RawFiles.RowsOf(format, K, rows * 136L, "w.bin", "input"));
        }
    }

    [Theory]
    [InlineData(135)]
    [InlineData(137)]
    [InlineData(0)]
    public void BlockPlanes_SizeThatDoesNotDivide_IsBadData(long length)
    {
        var format = Format(1, new QuantPlaneInfo("blocks", 16), new QuantPlaneInfo("scales", 1));

        var error = Assert.Throws<CliException>(() => RawFiles.RowsOf(format, K, length, "w.bin", "input"));

        Assert.Equal(ExitCodes.BadData, error.ExitCode);
        Assert.Contains("w.bin", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TileAndTensorPlanes_RowCountIsTheOneWhoseMatrixFillsTheFile()
    {
        // Per block: 16 bytes per row, 2 bytes per tile of 4 rows; plus 4 bytes for the whole tensor.
        var format = Format(4, new QuantPlaneInfo("blocks", 16), new QuantPlaneInfo("tile", 2, PlaneExtent.Tile),
            new QuantPlaneInfo("global", 4, PlaneExtent.Tensor));
        for (int rows = 1; rows <= 13; rows++)
        {
            long length = rows * 8 * 16 + (rows + 3) / 4 * 8 * 2 + 4;
            Assert.Equal(rows, RawFiles.RowsOf(format, K, length, "w.bin", "input"));
            var error = Assert.Throws<CliException>(() => RawFiles.RowsOf(format, K, length + 1, "w.bin", "input"));
            Assert.Equal(ExitCodes.BadData, error.ExitCode);
        }
    }
}
