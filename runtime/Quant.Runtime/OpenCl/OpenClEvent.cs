using System;

namespace Quant.Runtime.OpenCl;

/// <summary>An enqueued command: wait for it, and read how long it ran on the device (the queue profiles every command).</summary>
public sealed unsafe class OpenClEvent : IDisposable
{
    private readonly EventHandle _handle;

    internal OpenClEvent(EventHandle handle) => _handle = handle;

    /// <summary>Blocks until the command has finished.</summary>
    /// <exception cref="OpenClException">The command failed.</exception>
    public void Wait()
    {
        nint value = _handle.Value;
        OpenClNative.Check(OpenClNative.clWaitForEvents(1, &value), "clWaitForEvents");
        GC.KeepAlive(this);
    }

    /// <summary>The command's device time, from its start to its end, in nanoseconds (waits for it first).</summary>
    public long ElapsedNanoseconds
    {
        get
        {
            Wait();
            ulong start, end;
            OpenClNative.Check(OpenClNative.clGetEventProfilingInfo(_handle.Value, OpenClNative.ProfilingCommandStart, sizeof(ulong), &start, null), "clGetEventProfilingInfo");
            OpenClNative.Check(OpenClNative.clGetEventProfilingInfo(_handle.Value, OpenClNative.ProfilingCommandEnd, sizeof(ulong), &end, null), "clGetEventProfilingInfo");
            GC.KeepAlive(this);
            return (long)(end - start);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}
