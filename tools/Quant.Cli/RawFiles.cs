using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Quant.Runtime.IO;

namespace Quant.Cli;

/// <summary>
/// Reads and writes the headerless raw files of <c>quant raw</c>: little-endian, row-major float32
/// matrices, and quantized matrices whose planes follow each other in declaration order (plane 0 for
/// every row, then plane 1 for every row). Every check that fails names the file and what was expected;
/// inputs fail as bad data, outputs are written atomically so a failure leaves no partial file.
/// </summary>
internal static class RawFiles
{
    /// <summary>Reads a whole file, at most <see cref="Array.MaxLength"/> bytes.</summary>
    /// <param name="path">The file.</param>
    /// <param name="role">What the file is to the command (<c>input</c>, <c>weight</c>), for messages.</param>
    public static byte[] ReadBytes(string path, string role)
    {
        using var stream = OpenInput(path, role);
        long length = stream.Length;
        if (length > Array.MaxLength)
        {
            throw CliException.BadData(Text($"{role} '{path}' holds {length} bytes; this tool reads at most {Array.MaxLength} bytes at once."));
        }
        var bytes = new byte[length];
        Fill(stream, bytes, path, role);
        return bytes;
    }

    /// <summary>Reads a float32 matrix of rows of <paramref name="columns"/> floats; the row count is the file size over the row size.</summary>
    public static float[] ReadFloatRows(string path, string role, int columns, out int rows)
    {
        using var stream = OpenInput(path, role);
        long length = stream.Length;
        long rowBytes = 4L * columns;
        if (length == 0)
        {
            throw CliException.BadData(Text($"{role} '{path}' is empty; expected rows of {columns} float32 ({rowBytes} bytes each)."));
        }
        if (length % rowBytes != 0)
        {
            throw CliException.BadData(Text(
                $"{role} '{path}' holds {length} bytes, not a whole number of rows of {columns} float32 ({rowBytes} bytes each): {length % rowBytes} bytes left over."));
        }
        long count = length / 4;
        if (count > Array.MaxLength)
        {
            throw CliException.BadData(Text($"{role} '{path}' holds {count} floats; this tool holds at most {Array.MaxLength} in one matrix."));
        }
        rows = checked((int)(length / rowBytes));
        var floats = new float[count];
        Fill(stream, MemoryMarshal.AsBytes(floats.AsSpan()), path, role);
        return floats;
    }

    /// <summary>Reads exactly <paramref name="count"/> float32 values (an activation or a bias).</summary>
    public static float[] ReadFloatVector(string path, string role, int count)
    {
        using var stream = OpenInput(path, role);
        long length = stream.Length;
        if (length != 4L * count)
        {
            throw CliException.BadData(Text(
                $"{role} '{path}' holds {length} bytes; expected {count} float32 ({4L * count} bytes)."));
        }
        var floats = new float[count];
        Fill(stream, MemoryMarshal.AsBytes(floats.AsSpan()), path, role);
        return floats;
    }

    /// <summary>Reads a quantized matrix of <paramref name="format"/> with rows of <paramref name="columns"/> elements, its planes back to back.</summary>
    public static QuantMatrix ReadQuantMatrix(string path, string role, QuantFormatInfo format, int columns)
    {
        byte[] bytes = ReadBytes(path, role);
        int rows = RowsOf(format, columns, bytes.Length, path, role);
        var planes = new Memory<byte>[format.Planes.Count];
        long offset = 0;
        for (int p = 0; p < planes.Length; p++)
        {
            long planeBytes = format.PlaneBytes(p, rows, columns);
            // Slices of the one buffer: a plane is never copied.
            planes[p] = bytes.AsMemory(checked((int)offset), checked((int)planeBytes));
            offset += planeBytes;
        }
        return new QuantMatrix(format, rows, columns, planes);
    }

    /// <summary>Writes a quantized matrix as its planes back to back, atomically.</summary>
    public static void WriteQuantMatrix(string path, QuantMatrix matrix)
        => Write(path, stream =>
        {
            for (int p = 0; p < matrix.Format.Planes.Count; p++) stream.Write(matrix.Plane(p).Span);
        });

    /// <summary>Writes float32 values, little-endian, atomically.</summary>
    public static void WriteFloats(string path, float[] values)
        => Write(path, stream => stream.Write(MemoryMarshal.AsBytes(values.AsSpan())));

    /// <summary>Writes bytes, atomically.</summary>
    public static void WriteBytes(string path, byte[] bytes) => Write(path, stream => stream.Write(bytes));

    /// <summary>
    /// Fails early, before any work, when an output cannot be written at all: its folder is missing or
    /// the path is a folder. Writing can still fail later (a full disk); that failure leaves no file either.
    /// </summary>
    public static void CheckOutput(string path, string role)
    {
        if (string.IsNullOrWhiteSpace(path)) throw CliException.Usage($"the {role} path is empty.");
        if (Directory.Exists(path)) throw CliException.Failure($"cannot write {role} '{path}': it is a folder.");
        string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder))
        {
            throw CliException.Failure($"cannot write {role} '{path}': folder '{folder}' does not exist.");
        }
    }

    /// <summary>
    /// The row count of a quantized file: file size over row size for formats whose planes are all per
    /// block; formats with tile or whole-tensor planes get the row count whose matrix size equals the file.
    /// </summary>
    public static int RowsOf(QuantFormatInfo format, int columns, long length, string path, string role)
    {
        string layout = string.Join(" + ", Enumerable.Range(0, format.Planes.Count)
            .Select(p => Text($"{format.Planes[p].Name} {format.RowBytes(p, columns)}")));
        if (length == 0)
        {
            throw CliException.BadData(Text($"{role} '{path}' is empty; expected {format.Name} rows of {columns} columns."));
        }
        long rows;
        if (format.Planes.All(p => p.Extent == PlaneExtent.Block))
        {
            long rowBytes = format.RowBytes(columns);
            if (length % rowBytes != 0)
            {
                throw CliException.BadData(Text(
                    $"{role} '{path}' holds {length} bytes, not a whole number of {format.Name} rows of {columns} columns ({rowBytes} bytes each: {layout}): {length % rowBytes} bytes left over."));
            }
            rows = length / rowBytes;
        }
        else
        {
            rows = SolveRows(format, columns, length);
            if (rows < 0)
            {
                throw CliException.BadData(Text(
                    $"{role} '{path}' holds {length} bytes, which is no whole number of {format.Name} rows of {columns} columns ({layout} bytes per row, plus shared planes)."));
            }
        }
        if (rows > int.MaxValue) throw CliException.BadData(Text($"{role} '{path}' holds {rows} rows; at most {int.MaxValue} are supported."));
        return (int)rows;
    }

    // MatrixBytes never falls as rows grow, so the smallest row count reaching the length is the only candidate.
    private static long SolveRows(QuantFormatInfo format, int columns, long length)
    {
        long low = 1, high = length;
        while (low < high)
        {
            long middle = low + (high - low) / 2;
            if (format.MatrixBytes(middle, columns) >= length) high = middle;
            else low = middle + 1;
        }
        return format.MatrixBytes(low, columns) == length ? low : -1;
    }

    private static FileStream OpenInput(string path, string role)
    {
        if (string.IsNullOrWhiteSpace(path)) throw CliException.Usage($"the {role} path is empty.");
        if (Directory.Exists(path)) throw CliException.BadData($"{role} '{path}' is a folder, not a file.");
        if (!File.Exists(path)) throw CliException.BadData($"{role} file '{path}' does not exist.");
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.BadData($"cannot read {role} '{path}': {e.Message}", e);
        }
    }

    private static void Fill(FileStream stream, Span<byte> destination, string path, string role)
    {
        try
        {
            stream.ReadExactly(destination);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // EndOfStreamException (the file shrank while being read) is an IOException too.
            throw CliException.BadData($"cannot read {role} '{path}': {e.Message}", e);
        }
    }

    private static void Write(string path, Action<Stream> write)
    {
        try
        {
            AtomicFile.Write(path, write);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.Failure($"cannot write '{path}': {e.Message}", e);
        }
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
