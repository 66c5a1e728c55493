using System;
using System.Buffers;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;

namespace Quant.Runtime.IO;

/// <summary>
/// A read-only memory-mapped file: the readers of safetensors, GGUF and UQFF model files take spans of it
/// without copying. Every range is checked against the file's length first, so an offset or a length
/// read from a corrupt header fails with a <see cref="QuantFormatException"/> that names the file and
/// what was asked, never with an access violation or a huge allocation.
/// </summary>
public sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    private MappedFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        if (view is not null)
        {
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _pointer = pointer + view.PointerOffset;
        }
    }

    /// <summary>The path the file was opened from.</summary>
    public string Path { get; }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/> read-only; an empty file maps to a zero-length view.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static MappedFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        try
        {
            long length = stream.Length;
            if (length == 0)
            {
                stream.Dispose();
                return new MappedFile(path, 0, null, null);
            }
            var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            return new MappedFile(path, length, map, view);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Whether <c>[offset, offset + length)</c> lies inside the file.</summary>
    public bool Contains(long offset, long length) => offset >= 0 && length >= 0 && offset <= Length && length <= Length - offset;

    /// <summary>The bytes <c>[offset, offset + length)</c>, checked against the file.</summary>
    /// <param name="offset">Where the range starts.</param>
    /// <param name="length">How many bytes (at most <see cref="int.MaxValue"/>).</param>
    /// <param name="what">What the range holds, for the message of the exception (a tensor or key name).</param>
    /// <exception cref="QuantFormatException">The range does not lie inside the file.</exception>
    public ReadOnlySpan<byte> Span(long offset, long length, string what)
    {
        Check(offset, length, what);
        if (length > int.MaxValue)
            throw new QuantFormatException($"{Path}: {what} is {length} bytes, more than one span can hold; read it in parts", offset);
        return length == 0 ? default : new ReadOnlySpan<byte>(Pointer + offset, (int)length);
    }

    /// <summary>The bytes <c>[offset, offset + length)</c> as memory that stays valid while the file is open.</summary>
    /// <exception cref="QuantFormatException">The range does not lie inside the file.</exception>
    public ReadOnlyMemory<byte> Memory(long offset, long length, string what)
    {
        Check(offset, length, what);
        if (length > int.MaxValue)
            throw new QuantFormatException($"{Path}: {what} is {length} bytes, more than one span can hold; read it in parts", offset);
        return length == 0 ? ReadOnlyMemory<byte>.Empty : new Manager(this, offset, (int)length).Memory;
    }

    /// <summary>Throws unless <c>[offset, offset + length)</c> lies inside the file.</summary>
    /// <exception cref="QuantFormatException">The range does not lie inside the file.</exception>
    public void Check(long offset, long length, string what)
    {
        if (!Contains(offset, length))
            throw new QuantFormatException(
                $"{Path}: {what} claims bytes [{offset}, {(length < 0 || offset > long.MaxValue - length ? "overflow" : (offset + length).ToString(System.Globalization.CultureInfo.InvariantCulture))}) but the file has {Length} bytes",
                offset);
    }

    private byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null && Length > 0, this);
            return _pointer;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_pointer != null)
        {
            _view!.SafeMemoryMappedViewHandle.ReleasePointer();
            _pointer = null;
        }
        _view?.Dispose();
        _map?.Dispose();
    }

    private sealed class Manager(MappedFile file, long offset, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(file.Pointer + offset, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(file.Pointer + offset + elementIndex);

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
