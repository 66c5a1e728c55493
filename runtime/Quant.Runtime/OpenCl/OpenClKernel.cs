using System;
using System.Globalization;

namespace Quant.Runtime.OpenCl;

/// <summary>A kernel with its arguments. Setting arguments and enqueueing are not thread-safe: one caller at a time.</summary>
public sealed unsafe class OpenClKernel : IDisposable
{
    private readonly KernelHandle _handle;

    internal OpenClKernel(OpenClContext context, KernelHandle handle, string name)
    {
        Context = context;
        _handle = handle;
        Name = name;
    }

    /// <summary>The context.</summary>
    public OpenClContext Context { get; }

    /// <summary>The kernel function's name.</summary>
    public string Name { get; }

    /// <summary>Sets argument <paramref name="index"/> to a buffer.</summary>
    public OpenClKernel Arg(int index, OpenClBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        nint value = buffer.Value;
        Set(index, (nuint)sizeof(nint), &value);
        GC.KeepAlive(buffer);
        return this;
    }

    /// <summary>Sets argument <paramref name="index"/> to an int.</summary>
    public OpenClKernel Arg(int index, int value)
    {
        Set(index, sizeof(int), &value);
        return this;
    }

    /// <summary>Sets argument <paramref name="index"/> to a float.</summary>
    public OpenClKernel Arg(int index, float value)
    {
        Set(index, sizeof(float), &value);
        return this;
    }

    private void Set(int index, nuint size, void* value)
    {
        int status = OpenClNative.clSetKernelArg(_handle.Value, (uint)index, size, value);
        if (status != OpenClNative.Success) throw new OpenClException("clSetKernelArg", status, string.Create(CultureInfo.InvariantCulture, $"{Name}, argument {index}"));
        GC.KeepAlive(this);
    }

    /// <summary>
    /// Enqueues the kernel over <paramref name="global"/> work-items in groups of <paramref name="local"/> (1 to 3
    /// dimensions; each global size a multiple of the local one). The event times it on the device.
    /// </summary>
    /// <exception cref="OpenClException">The driver refuses the launch.</exception>
    public OpenClEvent Enqueue(ReadOnlySpan<long> global, ReadOnlySpan<long> local)
    {
        if (global.Length is < 1 or > 3 || local.Length != global.Length) throw new ArgumentException("Give 1 to 3 global sizes and as many local sizes.", nameof(global));
        nuint* g = stackalloc nuint[3];
        nuint* l = stackalloc nuint[3];
        for (int i = 0; i < global.Length; i++)
        {
            g[i] = (nuint)global[i];
            l[i] = (nuint)local[i];
        }
        nint evt;
        int status = OpenClNative.clEnqueueNDRangeKernel(Context.QueueValue, _handle.Value, (uint)global.Length, null, g, l, 0, null, &evt);
        if (status != OpenClNative.Success)
        {
            throw new OpenClException("clEnqueueNDRangeKernel", status, string.Create(CultureInfo.InvariantCulture,
                $"{Name} over [{string.Join(", ", global.ToArray())}] in groups of [{string.Join(", ", local.ToArray())}]"));
        }
        GC.KeepAlive(this);
        return new OpenClEvent(new EventHandle(evt));
    }

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}
