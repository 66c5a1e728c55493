using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Quant.Runtime.IO;

namespace Quant.Runtime.Gguf;

/// <summary>
/// Writes a GGUF v3 file as it goes, atomically: the metadata and the whole tensor table (names, dims,
/// types) are given up front, so every offset is known and the header is written at once; then each
/// tensor's bytes follow in table order (<see cref="WriteTensor(string, ReadOnlySpan{byte})"/> or a
/// callback), each checked to be exactly its byte count and padded to the alignment. The file appears
/// under its name only at <see cref="Commit"/>; a writer disposed before that (an exception, a missing
/// tensor) leaves no output file, and a killed process leaves only a hidden <c>.partial</c> file.
/// </summary>
public sealed class GgufWriter : IDisposable
{
    private readonly AtomicFileWriter _file;
    private readonly Stream _stream;
    private readonly GgufTensorSpec[] _tensors;
    private readonly long[] _bytes;
    private readonly int _alignment;
    private long _position;
    private int _next;
    private bool _faulted;

    private GgufWriter(AtomicFileWriter file, GgufTensorSpec[] tensors, long[] bytes, int alignment)
    {
        _file = file;
        _stream = file.Stream;
        _tensors = tensors;
        _bytes = bytes;
        _alignment = alignment;
    }

    /// <summary>The file that <see cref="Commit"/> creates or replaces.</summary>
    public string Path => _file.Target;

    /// <summary>Bytes written so far (the header, then data and padding).</summary>
    public long Position => _position;

    /// <summary>The tensor whose bytes come next, or null when every tensor has been written.</summary>
    public GgufTensorSpec? NextTensor => _next < _tensors.Length ? _tensors[_next] : null;

    /// <summary>
    /// Checks the table, opens a temporary file beside <paramref name="path"/> and writes the header, the
    /// metadata and the tensor infos. The alignment is <c>general.alignment</c> when <paramref name="metadata"/>
    /// has it (a u32 power of two, as ggml requires), otherwise 32.
    /// </summary>
    /// <param name="path">The file to create or replace at <see cref="Commit"/>.</param>
    /// <param name="metadata">The key-value pairs, written in their order.</param>
    /// <param name="tensors">Every tensor, in the order their bytes will be written.</param>
    /// <exception cref="ArgumentException">A tensor name is empty, longer than 63 UTF-8 bytes or repeated; a tensor has 0 or more than 4 dims or a negative dim; <c>general.alignment</c> is not a u32 power of two.</exception>
    /// <exception cref="QuantFormatException">A tensor's <c>dims[0]</c> is not a multiple of its type's block size.</exception>
    /// <exception cref="IOException">The file cannot be created.</exception>
    public static GgufWriter Create(string path, GgufMetadata metadata, IReadOnlyList<GgufTensorSpec> tensors)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        int alignment = GgufLayout.DefaultAlignment;
        if (metadata.TryGetValue(GgufLayout.AlignmentKey, out var a))
        {
            if (a.Type != GgufValueType.UInt32 || !a.TryGetUInt64(out ulong value) || value == 0 || value > (1 << 30) || (value & (value - 1)) != 0)
            {
                throw new ArgumentException($"'{GgufLayout.AlignmentKey}' must be a u32 power of two (ggml requires both); it is {GgufLayout.Describe(a)} {a}.", nameof(metadata));
            }
            alignment = (int)value;
        }
        var table = new GgufTensorSpec[tensors.Count];
        var bytes = new long[tensors.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < table.Length; i++)
        {
            var t = tensors[i] ?? throw new ArgumentException($"Tensor {i} is null.", nameof(tensors));
            if (string.IsNullOrEmpty(t.Name) || GgufLayout.Utf8Length(t.Name) > GgufLayout.MaxTensorNameBytes)
            {
                throw new ArgumentException($"Tensor {i} has the name '{t.Name}'; a name has 1 to {GgufLayout.MaxTensorNameBytes} UTF-8 bytes (ggml's limit).", nameof(tensors));
            }
            if (!names.Add(t.Name)) throw new ArgumentException($"Tensor '{t.Name}' appears twice.", nameof(tensors));
            if (t.Dims is null || t.Dims.Length is 0 or > GgufLayout.MaxDims)
            {
                throw new ArgumentException($"Tensor '{t.Name}' has {t.Dims?.Length ?? 0} dims; ggml tensors have 1 to {GgufLayout.MaxDims}.", nameof(tensors));
            }
            if (Array.Exists(t.Dims, d => d < 0)) throw new ArgumentException($"Tensor '{t.Name}' has a negative dim.", nameof(tensors));
            ArgumentNullException.ThrowIfNull(t.Type);
            bytes[i] = t.Type.TryByteCount(t.Dims, out string? problem)
                ?? throw new QuantFormatException($"Tensor '{t.Name}' {problem}.");
            table[i] = t with { Dims = (long[])t.Dims.Clone() };
        }

        var file = AtomicFile.Create(path);
        try
        {
            var writer = new GgufWriter(file, table, bytes, alignment);
            writer.WriteHeader(metadata);
            return writer;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private void WriteHeader(GgufMetadata metadata)
    {
        var stream = new CountingStream(_stream);
        GgufLayout.WriteHeader(stream, _tensors.Length, metadata.Count);
        foreach (var (key, value) in metadata) GgufLayout.WritePair(stream, key, value);
        long offset = 0;
        for (int i = 0; i < _tensors.Length; i++)
        {
            GgufLayout.WriteTensorInfo(stream, _tensors[i].Name, _tensors[i].Dims, _tensors[i].Type.Id, offset);
            offset = GgufLayout.Align(offset + _bytes[i], _alignment);
        }
        _position = GgufLayout.WritePadding(stream, stream.Written, _alignment);
    }

    /// <summary>Writes the bytes of the next tensor, which must be <paramref name="name"/>, and pads to the alignment.</summary>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is not the next tensor, or the writer failed earlier.</exception>
    /// <exception cref="ArgumentException"><paramref name="data"/> is not exactly the tensor's byte count.</exception>
    public void WriteTensor(string name, ReadOnlySpan<byte> data)
    {
        int index = Expect(name);
        if (data.Length != _bytes[index])
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"Tensor '{name}' ({_tensors[index].Type.Name} [{string.Join(", ", _tensors[index].Dims)}]) is {_bytes[index]} bytes; got {data.Length}."), nameof(data));
        }
        Guarded(() => { }, data);
        Finish(index);
    }

    /// <summary>
    /// Writes the bytes of the next tensor, which must be <paramref name="name"/>, through <paramref name="write"/>
    /// (which may write in as many pieces as it likes), then checks the count and pads to the alignment.
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is not the next tensor, the callback wrote more or fewer bytes than the tensor's byte count, or the writer failed earlier.</exception>
    public void WriteTensor(string name, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        int index = Expect(name);
        var bounded = new BoundedStream(_stream, _bytes[index], name);
        Guarded(() => write(bounded), default);
        if (bounded.Written != _bytes[index])
        {
            _faulted = true;
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"Tensor '{name}' is {_bytes[index]} bytes; the callback wrote {bounded.Written}. The file will not be committed."));
        }
        Finish(index);
    }

    private int Expect(string name)
    {
        if (_faulted) throw new InvalidOperationException("An earlier write failed; this GGUF file will not be committed.");
        if (_next >= _tensors.Length) throw new InvalidOperationException($"Every tensor has been written; '{name}' is not in the table.");
        if (!string.Equals(_tensors[_next].Name, name, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Tensors are written in table order: the next one is '{_tensors[_next].Name}', not '{name}'.");
        }
        return _next;
    }

    private void Guarded(Action write, ReadOnlySpan<byte> data)
    {
        try
        {
            if (!data.IsEmpty) _stream.Write(data);
            write();
        }
        catch
        {
            _faulted = true;
            throw;
        }
    }

    private void Finish(int index)
    {
        _position = GgufLayout.WritePadding(_stream, _position + _bytes[index], _alignment);
        _next++;
    }

    /// <summary>Flushes the file to disk and gives it its name.</summary>
    /// <exception cref="InvalidOperationException">Some tensors have not been written, or a write failed.</exception>
    public void Commit()
    {
        if (_faulted) throw new InvalidOperationException("An earlier write failed; this GGUF file is not committed.");
        if (_next < _tensors.Length)
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"{_tensors.Length - _next} of {_tensors.Length} tensors have not been written (next: '{_tensors[_next].Name}'); the file is not committed."));
        }
        _file.Commit();
    }

    /// <summary>Deletes the temporary file unless <see cref="Commit"/> ran.</summary>
    public void Dispose() => _file.Dispose();

    /// <summary>Counts what the header writes, to place the padding.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Written { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Written += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void WriteByte(byte value) => Write([value]);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>A write-only view that refuses to take more than one tensor's bytes.</summary>
    private sealed class BoundedStream(Stream inner, long limit, string name) : Stream
    {
        public long Written { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length > limit - Written)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"Tensor '{name}' is {limit} bytes; the callback tried to write {Written + buffer.Length}."));
            }
            inner.Write(buffer);
            Written += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void WriteByte(byte value) => Write([value]);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
