using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Text;

namespace Quant.Runtime.OpenCl;

/// <summary>
/// An OpenCL context on one device with one in-order command queue (profiling enabled, so that every kernel's
/// event carries its device time). It allocates buffers, uploads host data through pinned staging memory, and
/// builds programs, cached by device and source hash. Enqueueing from several threads is safe; a kernel object
/// is not (each <see cref="OpenClKernel"/> belongs to one caller at a time).
/// </summary>
public sealed unsafe class OpenClContext : IDisposable
{
    /// <summary>Uploads larger than this go through a pinned staging buffer of this size, piece by piece.</summary>
    private const int StagingBytes = 64 << 20;

    private static readonly ConcurrentDictionary<int, Lazy<OpenClContext>> s_shared = new();

    private readonly ContextHandle _context;
    private readonly QueueHandle _queue;
    private readonly ConcurrentDictionary<string, Lazy<OpenClProgram>> _programs = new(StringComparer.Ordinal);
    private readonly bool _shared;

    /// <summary>Creates a context and a profiling queue on <paramref name="device"/>.</summary>
    /// <exception cref="OpenClException">The driver refuses either.</exception>
    public OpenClContext(OpenClDevice device) : this(device, shared: false)
    {
    }

    private OpenClContext(OpenClDevice device, bool shared)
    {
        ArgumentNullException.ThrowIfNull(device);
        Device = device;
        _shared = shared;
        nint* properties = stackalloc nint[3] { OpenClNative.ContextPlatform, device.PlatformId, 0 };
        nint id = device.DeviceId;
        int status;
        nint context = OpenClNative.clCreateContext(properties, 1, &id, 0, 0, &status);
        OpenClNative.Check(status, "clCreateContext");
        _context = new ContextHandle(context);
        nint queue = OpenClNative.clCreateCommandQueue(context, id, OpenClNative.QueueProfilingEnable, &status);
        if (status != OpenClNative.Success)
        {
            _context.Dispose();
            OpenClNative.Check(status, "clCreateCommandQueue");
        }
        _queue = new QueueHandle(queue);
    }

    /// <summary>A context created with <see cref="OpenClDevice.Select"/>'s rules (null: <c>QUANT_OPENCL_DEVICE</c>, else the first GPU, else the first device).</summary>
    public static OpenClContext Create(string? device = null) => new(OpenClDevice.Select(device));

    /// <summary>
    /// The process-wide context of the device <see cref="OpenClDevice.Select"/> picks for <paramref name="device"/>: created once,
    /// never disposed (disposing it does nothing), shared by every caller so that programs are built once.
    /// </summary>
    public static OpenClContext Shared(string? device = null)
    {
        var selected = OpenClDevice.Select(device);
        return s_shared.GetOrAdd(selected.Index, _ => new Lazy<OpenClContext>(() => new OpenClContext(selected, shared: true))).Value;
    }

    /// <summary>The device.</summary>
    public OpenClDevice Device { get; }

    internal nint ContextValue => _context.Value;

    internal nint QueueValue => _queue.Value;

    /// <summary>Allocates an uninitialised device buffer of <paramref name="bytes"/> bytes.</summary>
    /// <exception cref="OpenClException">The device cannot allocate it.</exception>
    public OpenClBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        int status;
        nint memory = OpenClNative.clCreateBuffer(_context.Value, OpenClNative.MemReadWrite, (nuint)Math.Max(bytes, 1), null, &status);
        OpenClNative.Check(status, "clCreateBuffer");
        GC.KeepAlive(this);
        return new OpenClBuffer(this, new MemoryHandle(memory), bytes, parent: null);
    }

    /// <summary>Allocates a device buffer and copies <paramref name="data"/> into it (through pinned host memory for large data). Blocks until done.</summary>
    public OpenClBuffer Upload<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(data);
        var buffer = Allocate(bytes.Length);
        try
        {
            Write(buffer, 0, bytes);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
        return buffer;
    }

    /// <summary>Copies host bytes to <paramref name="buffer"/> at <paramref name="offset"/>; large copies go through a pinned staging buffer. Blocks until done.</summary>
    internal void Write(OpenClBuffer buffer, long offset, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length <= StagingBytes / 4)
        {
            fixed (byte* source = bytes)
            {
                OpenClNative.Check(OpenClNative.clEnqueueWriteBuffer(_queue.Value, buffer.Value, OpenClNative.True, (nuint)offset, (nuint)bytes.Length, source, 0, null, null),
                    "clEnqueueWriteBuffer");
            }
            GC.KeepAlive(buffer);
            return;
        }
        // Pinned (host-allocated) memory is what the DMA engine copies from at full speed; pageable memory is staged by the driver anyway.
        int status;
        nint staging = OpenClNative.clCreateBuffer(_context.Value, OpenClNative.MemReadOnly | OpenClNative.MemAllocHostPtr, StagingBytes, null, &status);
        OpenClNative.Check(status, "clCreateBuffer");
        using var stagingHandle = new MemoryHandle(staging);
        for (long done = 0; done < bytes.Length; done += StagingBytes)
        {
            int piece = (int)Math.Min(StagingBytes, bytes.Length - done);
            void* mapped = OpenClNative.clEnqueueMapBuffer(_queue.Value, staging, OpenClNative.True, OpenClNative.MapWrite, 0, (nuint)piece, 0, null, null, &status);
            OpenClNative.Check(status, "clEnqueueMapBuffer");
            bytes.Slice((int)done, piece).CopyTo(new Span<byte>(mapped, piece));
            OpenClNative.Check(OpenClNative.clEnqueueUnmapMemObject(_queue.Value, staging, mapped, 0, null, null), "clEnqueueUnmapMemObject");
            OpenClNative.Check(OpenClNative.clEnqueueCopyBuffer(_queue.Value, staging, buffer.Value, 0, (nuint)(offset + done), (nuint)piece, 0, null, null),
                "clEnqueueCopyBuffer");
        }
        Finish();
        GC.KeepAlive(buffer);
    }

    /// <summary>Copies <paramref name="bytes"/> bytes from <paramref name="source"/> to <paramref name="destination"/> on the device; the event times it.</summary>
    public OpenClEvent Copy(OpenClBuffer source, OpenClBuffer destination, long bytes)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        nint evt;
        OpenClNative.Check(OpenClNative.clEnqueueCopyBuffer(_queue.Value, source.Value, destination.Value, 0, 0, (nuint)bytes, 0, null, &evt), "clEnqueueCopyBuffer");
        GC.KeepAlive(source);
        GC.KeepAlive(destination);
        return new OpenClEvent(new EventHandle(evt));
    }

    /// <summary>
    /// Builds <paramref name="source"/> for this device, or returns the program built before from the same source and
    /// options. Float division is correctly rounded where the device can (the exact dequantizers divide).
    /// </summary>
    /// <exception cref="OpenClException">The build fails; the exception carries the compiler's log.</exception>
    public OpenClProgram Build(string source, string options = "")
    {
        ArgumentNullException.ThrowIfNull(source);
        string all = "-cl-std=CL1.2" + (Device.CorrectlyRoundedDivide ? " -cl-fp32-correctly-rounded-divide-sqrt" : "") + (options.Length > 0 ? " " + options : "");
        string key = Device.Index + "|" + Device.FullName + "|" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(all + "\n" + source)));
        var lazy = _programs.GetOrAdd(key, _ => new Lazy<OpenClProgram>(() => OpenClProgram.Build(this, source, all)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A failed build is not cached: the next call tries again (and throws again, with the log).
            _programs.TryRemove(new KeyValuePair<string, Lazy<OpenClProgram>>(key, lazy));
            throw;
        }
    }

    /// <summary>Programs built so far.</summary>
    public int CachedPrograms => _programs.Count;

    /// <summary>Waits until every command enqueued so far has finished.</summary>
    public void Finish()
    {
        OpenClNative.Check(OpenClNative.clFinish(_queue.Value), "clFinish");
        GC.KeepAlive(this);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_shared) return;
        foreach (var program in _programs.Values)
        {
            if (program.IsValueCreated) program.Value.Dispose();
        }
        _queue.Dispose();
        _context.Dispose();
    }
}
