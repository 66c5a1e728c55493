using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using Quant.Kernels;
using Quant.Runtime.IO;

namespace Quant.Runtime.Gguf;

/// <summary>
/// A GGUF file (version 3, or 2, which has the same layout), memory-mapped and checked when opened: the
/// magic and version; every count and length against the bytes that remain, before anything is
/// allocated; keys and tensor names unique, non-empty UTF-8; <c>general.alignment</c> a power of two;
/// every tensor of a known type (F32 or a registered format with a GGUF id), with <c>dims[0]</c> a multiple
/// of its block size, at an aligned offset, inside the file and overlapping no other tensor. Every failure
/// is a <see cref="QuantFormatException"/> naming the file, the key or tensor, and the byte offset.
/// Tensor data is read in place; spans, memory and encoded arrays are valid until the file is disposed.
/// </summary>
public sealed class GgufFile : IDisposable
{
    private readonly MappedFile _file;
    private readonly GgufTensorInfo[] _tensors;
    private readonly Dictionary<string, int> _byName;

    private GgufFile(MappedFile file, uint version, int alignment, long dataOffset, GgufMetadata metadata, GgufTensorInfo[] tensors, Dictionary<string, int> byName)
    {
        _file = file;
        Version = version;
        Alignment = alignment;
        DataOffset = dataOffset;
        Metadata = metadata;
        _tensors = tensors;
        _byName = byName;
    }

    /// <summary>The path the file was opened from.</summary>
    public string Path => _file.Path;

    /// <summary>The file's length in bytes.</summary>
    public long Length => _file.Length;

    /// <summary>The GGUF version (3, or 2).</summary>
    public uint Version { get; }

    /// <summary>The alignment of the data section and of every tensor's offset, in bytes.</summary>
    public int Alignment { get; }

    /// <summary>Where the data section starts, from the start of the file.</summary>
    public long DataOffset { get; }

    /// <summary>The metadata, in file order.</summary>
    public GgufMetadata Metadata { get; }

    /// <summary>The tensors, in the order of their infos.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => _tensors;

    /// <summary>True when <paramref name="head"/> (the first bytes of a file) starts with the GGUF magic.</summary>
    public static bool HasMagic(ReadOnlySpan<byte> head)
        => head.Length >= 4 && MemoryMarshal.Read<uint>(head) == GgufLayout.Magic;

    /// <summary>Opens and checks <paramref name="path"/>.</summary>
    /// <exception cref="QuantFormatException">The file is not a GGUF file this reader accepts (the message says why and where).</exception>
    /// <exception cref="System.IO.IOException">The file cannot be read.</exception>
    /// <exception cref="PlatformNotSupportedException">The machine is big-endian.</exception>
    public static GgufFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("GGUF files are read in place, which needs a little-endian machine.");
        var file = MappedFile.Open(path);
        try
        {
            return Read(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static GgufFile Read(MappedFile file)
    {
        string source = file.Path;
        // The header region is read as one span; a header past 2 GiB is refused by the counts' checks.
        var cursor = new GgufLayout.Cursor(file.Memory(0, Math.Min(file.Length, int.MaxValue), "the GGUF header"), source);
        if (file.Length < 4 || cursor.U32("magic") != GgufLayout.Magic)
        {
            throw new QuantFormatException($"{source}: not a GGUF file (it does not start with the magic 'GGUF')", 0);
        }
        uint version = cursor.U32("version");
        if (version is not (2 or 3))
        {
            string why = BinaryPrimitivesReverse(version) is 2 or 3 ? "a big-endian GGUF file, which this reader does not read"
                : version == 1 ? "version 1 (32-bit counts), which this reader does not read"
                : string.Create(CultureInfo.InvariantCulture, $"version {version}; this reader reads versions 2 and 3");
            throw cursor.Error(4, "version", why);
        }
        int tensorCount = cursor.Count("tensor count", GgufLayout.MinTensorInfoBytes);
        int pairCount = cursor.Count("metadata key-value count", GgufLayout.MinPairBytes);

        var metadata = new GgufMetadata(source);
        for (int i = 0; i < pairCount; i++)
        {
            int at = cursor.Position;
            cursor.At("metadata key", null, i);
            string key = cursor.Name("");
            cursor.At("metadata key", key);
            var value = cursor.Value(cursor.U32("value type"));
            if (!metadata.TryAddRead(key, value, at)) throw cursor.Fail(at, null, "appears twice");
        }

        int alignment = GgufLayout.DefaultAlignment;
        if (metadata.TryGetValue(GgufLayout.AlignmentKey, out var alignValue))
        {
            long at = metadata.OffsetOf(GgufLayout.AlignmentKey);
            if (!alignValue.TryGetUInt64(out ulong a) || a == 0 || a > (1 << 30) || (a & (a - 1)) != 0)
            {
                throw cursor.Error(at, $"metadata key '{GgufLayout.AlignmentKey}'",
                    $"is {GgufLayout.Describe(alignValue)} {alignValue}; the alignment must be a power of two up to 2^30");
            }
            alignment = (int)a;
        }

        if (tensorCount > cursor.Remaining / GgufLayout.MinTensorInfoBytes)
        {
            throw cursor.Error(cursor.Position, "tensor infos", string.Create(CultureInfo.InvariantCulture,
                $"{tensorCount} tensors need at least {(long)tensorCount * GgufLayout.MinTensorInfoBytes} bytes but only {cursor.Remaining} remain"));
        }
        // Nothing is sized by the claimed count: a corrupt count fails when the bytes run out, having cost only what was read.
        var tensorList = new List<GgufTensorInfo>();
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        Span<long> dimsBuffer = stackalloc long[GgufLayout.MaxDims];
        for (int i = 0; i < tensorCount; i++)
        {
            int at = cursor.Position;
            cursor.At("tensor info", null, i);
            string name = cursor.Name("name");
            cursor.At("tensor", name);
            uint dimCount = cursor.U32("n_dims");
            if (dimCount is 0 or > GgufLayout.MaxDims)
            {
                throw cursor.Fail(at, null, string.Create(CultureInfo.InvariantCulture, $"has {dimCount} dims; ggml tensors have 1 to {GgufLayout.MaxDims}"));
            }
            for (int d = 0; d < dimCount; d++)
            {
                ulong dim = cursor.U64("dims");
                if (dim > long.MaxValue) throw cursor.Fail(at, null, string.Create(CultureInfo.InvariantCulture, $"has dims[{d}] = {dim}, too large"));
                dimsBuffer[d] = (long)dim;
            }
            var dims = dimsBuffer[..(int)dimCount];
            uint typeId = cursor.U32("type");
            var type = GgufTensorType.Find(typeId)
                ?? throw cursor.Fail(at, null, string.Create(CultureInfo.InvariantCulture, $"has ggml type {typeId}, which is neither F32 nor a registered format"));
            ulong offset = cursor.U64("offset");
            long bytes = type.TryByteCount(dims, out string? problem) ?? throw cursor.Fail(at, null, problem!);
            if (offset > long.MaxValue || (long)offset % alignment != 0)
            {
                throw cursor.Fail(at, null, string.Create(CultureInfo.InvariantCulture, $"has data offset {offset}, not a multiple of the alignment {alignment}"));
            }
            if (byName.ContainsKey(name)) throw cursor.Fail(at, null, "appears twice");
            byName.Add(name, i);
            tensorList.Add(new GgufTensorInfo(name, dims.ToArray(), type, (long)offset, -1, bytes, at));
        }
        var tensors = tensorList.ToArray();
        var offsets = Array.ConvertAll(tensors, t => t.Offset);

        long dataOffset = GgufLayout.Align(cursor.Position, alignment);
        // Ranges: inside the file, and (sorted by offset) each ending before the next begins.
        var order = new int[tensorCount];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(offsets, order);
        long previousEnd = 0;
        string? previous = null;
        foreach (int i in order)
        {
            var t = tensors[i];
            long start = dataOffset + t.Offset;
            if (t.Offset > file.Length || start > file.Length || t.ByteCount > file.Length - start)
            {
                throw cursor.Error(t.InfoOffset, $"tensor '{t.Name}'", string.Create(CultureInfo.InvariantCulture,
                    $"claims data bytes [{(t.Offset > file.Length ? "beyond the file" : start.ToString(CultureInfo.InvariantCulture))}, +{t.ByteCount}) but the file has {file.Length} bytes"));
            }
            if (t.Offset < previousEnd && t.ByteCount > 0)
            {
                throw cursor.Error(t.InfoOffset, $"tensor '{t.Name}'", string.Create(CultureInfo.InvariantCulture,
                    $"has data at offset {t.Offset}, inside the data of tensor '{previous}' (which ends at {previousEnd})"));
            }
            if (t.ByteCount > 0)
            {
                previousEnd = t.Offset + t.ByteCount;
                previous = t.Name;
            }
            t.FileOffset = start;
        }
        return new GgufFile(file, version, alignment, dataOffset, metadata, tensors, byName);
    }

    private static uint BinaryPrimitivesReverse(uint value) => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(value);

    /// <summary>The tensor named <paramref name="name"/>.</summary>
    /// <exception cref="QuantFormatException">The file has no such tensor.</exception>
    public GgufTensorInfo GetTensor(string name)
        => TryGetTensor(name, out var tensor) ? tensor : throw new QuantFormatException($"{Path}: there is no tensor '{name}'");

    /// <summary>The tensor named <paramref name="name"/>, if there is one.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GgufTensorInfo? tensor)
    {
        tensor = _byName.TryGetValue(name, out int i) ? _tensors[i] : null;
        return tensor is not null;
    }

    /// <summary>The tensor's bytes in place (at most 2 GiB; larger tensors are read with <see cref="ReadRows"/>).</summary>
    /// <exception cref="QuantFormatException">The tensor is larger than one span can hold.</exception>
    public ReadOnlySpan<byte> GetData(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return _file.Span(tensor.FileOffset, tensor.ByteCount, $"tensor '{tensor.Name}'");
    }

    /// <summary>The tensor's bytes in place, as memory valid while the file is open (at most 2 GiB).</summary>
    /// <exception cref="QuantFormatException">The tensor is larger than one span can hold.</exception>
    public ReadOnlyMemory<byte> GetMemory(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        return _file.Memory(tensor.FileOffset, tensor.ByteCount, $"tensor '{tensor.Name}'");
    }

    /// <summary>The bytes of rows <c>[firstRow, firstRow + rowCount)</c> of a tensor (a row is <c>Dims[0]</c> elements).</summary>
    /// <exception cref="QuantFormatException">The rows are outside the tensor or more than one span can hold.</exception>
    public ReadOnlySpan<byte> ReadRows(GgufTensorInfo tensor, long firstRow, int rowCount)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        long rowBytes = tensor.Columns / tensor.Type.BlockSize * tensor.Type.BytesPerBlock;
        if (firstRow < 0 || rowCount < 0 || firstRow > tensor.Rows - rowCount)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{Path}: tensor '{tensor.Name}' has {tensor.Rows} rows; rows [{firstRow}, {firstRow + rowCount}) were asked for"));
        }
        return _file.Span(tensor.FileOffset + firstRow * rowBytes, rowCount * rowBytes, $"tensor '{tensor.Name}' rows");
    }

    /// <summary>The tensor as float32 values in row-major order (F32 copied, formats dequantized), <see cref="GgufTensorInfo.ElementCount"/> floats.</summary>
    /// <exception cref="QuantFormatException">The tensor has more elements than an array holds.</exception>
    public float[] ReadSingle(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var data = GetData(tensor);
        if (tensor.Type.Format is null) return MemoryMarshal.Cast<byte, float>(data).ToArray();
        if (tensor.ElementCount == 0) return [];
        var format = tensor.Type.Format.Info;
        if (tensor.Columns > int.MaxValue || tensor.Rows > int.MaxValue || tensor.ElementCount > Array.MaxLength)
        {
            throw new QuantFormatException($"{Path}: tensor '{tensor.Name}' is too large to dequantize into one array");
        }
        var matrix = new QuantMatrix(format, (int)tensor.Rows, (int)tensor.Columns, [data.ToArray()]);
        var values = new float[tensor.ElementCount];
        FormatKernels.For(tensor.Type.Format).Dequantize(matrix, values);
        return values;
    }

    /// <summary>Unmaps the file.</summary>
    public void Dispose() => _file.Dispose();
}
