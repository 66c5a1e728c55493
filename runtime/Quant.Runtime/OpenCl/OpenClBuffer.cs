using System;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Quant.Runtime.OpenCl;

/// <summary>A device buffer (or a sub-buffer: a shard of one, sharing its memory).</summary>
public sealed unsafe class OpenClBuffer : IDisposable
{
    private readonly MemoryHandle _handle;
    private readonly OpenClBuffer? _parent;

    internal OpenClBuffer(OpenClContext context, MemoryHandle handle, long bytes, OpenClBuffer? parent)
    {
        Context = context;
        _handle = handle;
        Bytes = bytes;
        _parent = parent;
    }

    /// <summary>The context the buffer belongs to.</summary>
    public OpenClContext Context { get; }

    /// <summary>Its size in bytes.</summary>
    public long Bytes { get; }

    internal nint Value => _handle.Value;

    /// <summary>Copies <paramref name="data"/> into the buffer at byte <paramref name="offset"/>. Blocks until done.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The data does not fit.</exception>
    public void Write<T>(ReadOnlySpan<T> data, long offset = 0) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(data);
        CheckRange(offset, bytes.Length);
        Context.Write(this, offset, bytes);
    }

    /// <summary>Copies bytes from byte <paramref name="offset"/> of the buffer into <paramref name="destination"/>. Blocks until done.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range does not lie in the buffer.</exception>
    public void Read<T>(Span<T> destination, long offset = 0) where T : unmanaged
    {
        var bytes = MemoryMarshal.AsBytes(destination);
        CheckRange(offset, bytes.Length);
        fixed (byte* d = bytes)
        {
            OpenClNative.Check(OpenClNative.clEnqueueReadBuffer(Context.QueueValue, Value, OpenClNative.True, (nuint)offset, (nuint)bytes.Length, d, 0, null, null),
                "clEnqueueReadBuffer");
        }
        GC.KeepAlive(this);
    }

    /// <summary>
    /// A sub-buffer over bytes [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="bytes"/>): a shard that
    /// kernels see as a buffer of its own, sharing this one's memory. The offset must be a multiple of the device's
    /// <see cref="OpenClDevice.BaseAddressAlignBytes"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The range does not lie in the buffer or the offset is not aligned.</exception>
    public OpenClBuffer Slice(long offset, long bytes)
    {
        CheckRange(offset, bytes);
        int align = Context.Device.BaseAddressAlignBytes;
        if (align > 0 && offset % align != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"A sub-buffer of {Context.Device.Name} must start at a multiple of {align} bytes; {offset} is not."), nameof(offset));
        }
        nuint* region = stackalloc nuint[2] { (nuint)offset, (nuint)Math.Max(bytes, 1) };
        int status;
        nint memory = OpenClNative.clCreateSubBuffer(Value, OpenClNative.MemReadWrite, OpenClNative.BufferCreateTypeRegion, region, &status);
        OpenClNative.Check(status, "clCreateSubBuffer");
        GC.KeepAlive(this);
        return new OpenClBuffer(Context, new MemoryHandle(memory), bytes, this);
    }

    private void CheckRange(long offset, long count)
    {
        if (offset < 0 || count < 0 || offset + count > Bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), string.Create(CultureInfo.InvariantCulture,
                $"Bytes [{offset}, {offset + count}) do not lie in a buffer of {Bytes}."));
        }
    }

    /// <summary>Releases the buffer (a sub-buffer keeps its parent's memory alive until it is released too).</summary>
    public void Dispose()
    {
        _handle.Dispose();
        GC.KeepAlive(_parent);
    }
}
