using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using Quant.Runtime.IO;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Safetensors;

/// <summary>A tensor announced to a <see cref="SafetensorsWriter"/> before its bytes are written.</summary>
/// <param name="Name">The tensor's name.</param>
/// <param name="DType">Its element type.</param>
/// <param name="Shape">Its dimensions.</param>
public sealed record SafetensorsTensorInfo(string Name, DType DType, int[] Shape)
{
    /// <summary>Its data's length in bytes.</summary>
    public long Length => HostTensor.ByteCountOf(DType, Shape);
}

/// <summary>
/// Writes a safetensors file as one goes: the tensor table is given first (so the header with every offset
/// can be written at once), then each tensor's bytes in that order. The file is written under a temporary
/// name and appears only at <see cref="Commit"/>; disposing an uncommitted writer deletes it.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    private readonly AtomicFileWriter _file;
    private readonly IReadOnlyList<SafetensorsTensorInfo> _tensors;
    private int _next;
    private long _writtenOfNext;

    /// <summary>Starts writing <paramref name="path"/> with the tensors of <paramref name="tensors"/>, in that order.</summary>
    /// <exception cref="ArgumentException">Two tensors share a name, or a name is empty or <c>__metadata__</c>.</exception>
    public SafetensorsWriter(string path, IReadOnlyList<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (string.IsNullOrEmpty(t.Name) || t.Name == "__metadata__") throw new ArgumentException($"'{t.Name}' is not a valid tensor name.", nameof(tensors));
            if (!names.Add(t.Name)) throw new ArgumentException($"Tensor '{t.Name}' is listed twice.", nameof(tensors));
        }
        _tensors = tensors;
        byte[] header = Header(tensors, metadata);
        _file = AtomicFile.Create(path);
        try
        {
            Span<byte> length = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            _file.Stream.Write(length);
            _file.Stream.Write(header);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    /// <summary>The tensor whose bytes are expected next, or null when all were written.</summary>
    public SafetensorsTensorInfo? Next => _next < _tensors.Count ? _tensors[_next] : null;

    /// <summary>Writes (part of) the bytes of the next tensor, which must be <paramref name="name"/>.</summary>
    /// <exception cref="InvalidOperationException">The tensors are written out of order or past their length.</exception>
    public void Write(string name, ReadOnlySpan<byte> bytes)
    {
        var next = Next ?? throw new InvalidOperationException($"Every tensor was written; '{name}' is not expected.");
        if (next.Name != name) throw new InvalidOperationException($"Tensor '{next.Name}' is expected next, not '{name}'.");
        if (bytes.Length > next.Length - _writtenOfNext)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Tensor '{name}' has {next.Length} bytes; {_writtenOfNext + bytes.Length} were given."));
        _file.Stream.Write(bytes);
        _writtenOfNext += bytes.Length;
        if (_writtenOfNext == next.Length)
        {
            _next++;
            _writtenOfNext = 0;
        }
    }

    /// <summary>Writes the whole of a tensor.</summary>
    public void Write(string name, HostTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var next = Next;
        if (next is not null && next.Name == name && (next.DType != tensor.DType || !next.Shape.SequenceEqual(tensor.Shape)))
            throw new InvalidOperationException($"Tensor '{name}' was announced as {next.DType} {HostTensor.ShapeText(next.Shape)}, not {tensor}.");
        Write(name, tensor.Bytes);
    }

    /// <summary>Checks every tensor was written, then renames the file into place.</summary>
    /// <exception cref="InvalidOperationException">A tensor's bytes are missing.</exception>
    public void Commit()
    {
        // Empty tensors need no bytes.
        while (Next is { Length: 0 } && _writtenOfNext == 0) _next++;
        if (Next is { } missing)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Tensor '{missing.Name}' got {_writtenOfNext} of its {missing.Length} bytes; the file was not written."));
        _file.Commit();
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> in one call, atomically.</summary>
    public static void WriteFile(string path, IEnumerable<KeyValuePair<string, HostTensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        using var writer = new SafetensorsWriter(path, list.Select(t => new SafetensorsTensorInfo(t.Key, t.Value.DType, t.Value.Dims())).ToArray(), metadata);
        foreach (var (name, tensor) in list) writer.Write(name, tensor);
        writer.Commit();
    }

    private static byte[] Header(IReadOnlyList<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType.SafetensorsName());
                json.WriteStartArray("shape");
                foreach (int d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                offset += t.Length;
                json.WriteNumberValue(offset);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        // The data section starts 8-byte aligned: the header is padded with spaces, as the format allows.
        int padding = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }
}
