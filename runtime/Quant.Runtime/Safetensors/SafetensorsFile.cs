using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using Quant.Runtime.IO;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Safetensors;

/// <summary>One tensor of a safetensors file: its dtype, shape and where its bytes lie in the file.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">Its element type.</param>
/// <param name="Shape">Its dimensions, outermost first.</param>
/// <param name="Offset">The absolute byte offset of its data in the file.</param>
/// <param name="Length">Its data's length in bytes.</param>
public sealed record SafetensorsEntry(string Name, DType DType, int[] Shape, long Offset, long Length)
{
    /// <summary>The number of elements.</summary>
    public long ElementCount => HostTensor.ElementCountOf(Shape);
}

/// <summary>
/// A safetensors file opened read-only over a memory map. The header is checked before anything is used:
/// its length against the file (and a 100 MB bound), the JSON, every dtype, every shape against its byte
/// count, every data range inside the file and no two overlapping. Every failure is a
/// <see cref="QuantFormatException"/> that names the file and the tensor.
/// </summary>
/// <remarks>
/// Layout: a little-endian u64 header length <c>n</c>, <c>n</c> bytes of JSON
/// (<c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c>),
/// then the data, with offsets relative to its start.
/// </remarks>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>The largest header this reader accepts (the limit the safetensors library itself applies).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly MappedFile _file;
    private readonly Dictionary<string, SafetensorsEntry> _entries;

    private SafetensorsFile(MappedFile file, Dictionary<string, SafetensorsEntry> entries, IReadOnlyList<SafetensorsEntry> ordered,
        IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        _file = file;
        _entries = entries;
        Entries = ordered;
        Metadata = metadata;
        DataStart = dataStart;
    }

    /// <summary>The file's path.</summary>
    public string Path => _file.Path;

    /// <summary>The file's length in bytes.</summary>
    public long Length => _file.Length;

    /// <summary>Where the data section starts (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>The tensors, in the order of their data.</summary>
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    /// <summary>The <c>__metadata__</c> strings (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors' names.</summary>
    public IEnumerable<string> Names => Entries.Select(e => e.Name);

    /// <summary>Opens and checks <paramref name="path"/>.</summary>
    /// <exception cref="QuantFormatException">The file is not a valid safetensors file.</exception>
    /// <exception cref="System.IO.FileNotFoundException">The file does not exist.</exception>
    public static SafetensorsFile Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            return Parse(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file has a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _entries.ContainsKey(name);

    /// <summary>The entry of <paramref name="name"/>.</summary>
    /// <exception cref="QuantFormatException">There is no such tensor.</exception>
    public SafetensorsEntry Entry(string name) =>
        _entries.TryGetValue(name, out var entry) ? entry : throw new QuantFormatException($"{Path}: no tensor named '{name}'.");

    /// <summary>Tries to find the entry of <paramref name="name"/>.</summary>
    public bool TryGetEntry(string name, out SafetensorsEntry entry) => _entries.TryGetValue(name, out entry!);

    /// <summary>The tensor <paramref name="name"/> as a read-only view of the mapped file (valid while the file is open).</summary>
    /// <exception cref="QuantFormatException">There is no such tensor, or it is larger than 2 GiB (read it in parts with <see cref="ReadBytes"/>).</exception>
    public HostTensor Get(string name)
    {
        var entry = Entry(name);
        return HostTensor.FromBytes(entry.DType, entry.Shape, _file.Memory(entry.Offset, entry.Length, $"tensor '{name}'"), $"{Path}: tensor '{name}'");
    }

    /// <summary>Bytes <c>[start, start + length)</c> of the tensor <paramref name="name"/>'s data.</summary>
    /// <exception cref="QuantFormatException">The range is not inside the tensor.</exception>
    public ReadOnlySpan<byte> ReadBytes(string name, long start, long length)
    {
        var entry = Entry(name);
        if (start < 0 || length < 0 || start > entry.Length - length)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{Path}: bytes [{start}, {start + length}) are outside tensor '{name}' ({entry.Length} bytes)."));
        return _file.Span(entry.Offset + start, length, $"tensor '{name}'");
    }

    /// <summary>The same bytes as memory.</summary>
    public ReadOnlyMemory<byte> ReadMemory(string name, long start, long length)
    {
        ReadBytes(name, start, length);
        return _file.Memory(Entry(name).Offset + start, length, $"tensor '{name}'");
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();

    private static SafetensorsFile Parse(MappedFile file)
    {
        string path = file.Path;
        if (file.Length < 8) throw new QuantFormatException($"{path}: {file.Length} bytes is too short for a safetensors file (the header length alone is 8 bytes).", 0);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file.Span(0, 8, "header length"));
        if (headerLength > (ulong)(file.Length - 8))
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{path}: the header claims {headerLength} bytes but only {file.Length - 8} follow the length."), 0);
        if (headerLength > MaxHeaderLength)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{path}: the header claims {headerLength} bytes, more than the {MaxHeaderLength} a safetensors header may have."), 0);
        if (headerLength < 2) throw new QuantFormatException($"{path}: the header is {headerLength} bytes; it must hold at least a JSON object.", 0);
        long dataStart = 8 + (long)headerLength;
        long dataLength = file.Length - dataStart;

        if (!System.Text.Unicode.Utf8.IsValid(file.Span(8, (long)headerLength, "header")))
            throw new QuantFormatException($"{path}: the header is not valid UTF-8.", 8);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(file.Memory(8, (long)headerLength, "header"), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new QuantFormatException($"{path}: the header is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new QuantFormatException($"{path}: the header must be a JSON object; it is {document.RootElement.ValueKind}.", 8);
            var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                string name = property.Name;
                if (name == "__metadata__")
                {
                    if (sawMetadata) throw new QuantFormatException($"{path}: '__metadata__' appears twice.", 8);
                    sawMetadata = true;
                    if (property.Value.ValueKind != JsonValueKind.Object) throw new QuantFormatException($"{path}: '__metadata__' must be an object of strings.", 8);
                    foreach (var m in property.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new QuantFormatException($"{path}: metadata '{m.Name}' must be a string; it is {m.Value.ValueKind}.", 8);
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw new QuantFormatException($"{path}: metadata '{m.Name}' appears twice.", 8);
                    }
                    continue;
                }
                var entry = ParseEntry(path, name, property.Value, dataStart, dataLength);
                if (!entries.TryAdd(name, entry)) throw new QuantFormatException($"{path}: tensor '{name}' appears twice in the header.", 8);
            }
            var ordered = entries.Values.OrderBy(e => e.Offset).ThenBy(e => e.Length).ToArray();
            for (int i = 1; i < ordered.Length; i++)
            {
                var previous = ordered[i - 1];
                if (ordered[i].Offset < previous.Offset + previous.Length)
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"{path}: tensor '{ordered[i].Name}' (data from {ordered[i].Offset - dataStart}) overlaps tensor '{previous.Name}' (data [{previous.Offset - dataStart}, {previous.Offset - dataStart + previous.Length}))."),
                        ordered[i].Offset);
            }
            return new SafetensorsFile(file, entries, ordered, metadata, dataStart);
        }
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement value, long dataStart, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object) throw new QuantFormatException($"{where}: its header entry must be an object; it is {value.ValueKind}.", 8);
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new QuantFormatException($"{where}: 'dtype' is missing or not a string.", 8);
        string dtypeName = dtypeElement.GetString()!;
        var dtype = DTypes.FromSafetensorsName(dtypeName) ?? throw new QuantFormatException($"{where}: dtype '{dtypeName}' is not one this reader knows (F32, F16, BF16, F64, F8_E4M3, F8_E5M2, U8, I8, I16, U16, I32, U32, I64, U64, BOOL).", 8);
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new QuantFormatException($"{where}: 'shape' is missing or not an array.", 8);
        int rank = shapeElement.GetArrayLength();
        if (rank > 8) throw new QuantFormatException($"{where}: a shape of {rank} dimensions is more than this reader accepts (8).", 8);
        var shape = new int[rank];
        int d = 0;
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long size) || size < 0 || size > int.MaxValue)
                throw new QuantFormatException($"{where}: dimension {d} ({dim}) is not an integer in [0, {int.MaxValue}].", 8);
            shape[d++] = (int)size;
        }
        if (!value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2)
            throw new QuantFormatException($"{where}: 'data_offsets' must be an array [begin, end].", 8);
        var offsets = new long[2];
        int o = 0;
        foreach (var element in offsetsElement.EnumerateArray())
        {
            if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out long offset) || offset < 0)
                throw new QuantFormatException($"{where}: data offset {element} is not a non-negative integer.", 8);
            offsets[o++] = offset;
        }
        long begin = offsets[0], end = offsets[1];
        if (end < begin) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: data_offsets [{begin}, {end}] end before they begin."), 8);
        if (end > dataLength)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: data [{begin}, {end}) runs past the end of the data section ({dataLength} bytes); the file is truncated or the header lies."), dataStart + begin);
        long expected;
        try
        {
            expected = HostTensor.ByteCountOf(dtype, shape);
        }
        catch (OverflowException)
        {
            throw new QuantFormatException($"{where}: shape {HostTensor.ShapeText(shape)} is too large.", 8);
        }
        if (end - begin != expected)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{where}: a {dtypeName} tensor of shape {HostTensor.ShapeText(shape)} has {expected} bytes but data_offsets [{begin}, {end}] give {end - begin}."), dataStart + begin);
        return new SafetensorsEntry(name, dtype, shape, dataStart + begin, end - begin);
    }
}
