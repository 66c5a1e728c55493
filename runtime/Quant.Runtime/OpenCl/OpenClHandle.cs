using Microsoft.Win32.SafeHandles;

namespace Quant.Runtime.OpenCl;

/// <summary>An OpenCL object the runtime owns; releasing the handle calls the object's <c>clRelease*</c>.</summary>
internal abstract class OpenClHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    protected OpenClHandle(nint handle) : base(ownsHandle: true) => SetHandle(handle);

    /// <summary>The raw handle, for calls made while the owning object is alive.</summary>
    public nint Value => handle;
}

internal sealed class ContextHandle(nint handle) : OpenClHandle(handle)
{
    protected override bool ReleaseHandle() => OpenClNative.clReleaseContext(handle) == OpenClNative.Success;
}

internal sealed class QueueHandle(nint handle) : OpenClHandle(handle)
{
    protected override bool ReleaseHandle() => OpenClNative.clReleaseCommandQueue(handle) == OpenClNative.Success;
}

internal sealed class MemoryHandle(nint handle) : OpenClHandle(handle)
{
    protected override bool ReleaseHandle() => OpenClNative.clReleaseMemObject(handle) == OpenClNative.Success;
}

internal sealed class ProgramHandle(nint handle) : OpenClHandle(handle)
{
    protected override bool ReleaseHandle() => OpenClNative.clReleaseProgram(handle) == OpenClNative.Success;
}

internal sealed class KernelHandle(nint handle) : OpenClHandle(handle)
{
    protected override bool ReleaseHandle() => OpenClNative.clReleaseKernel(handle) == OpenClNative.Success;
}

internal sealed class EventHandle(nint handle) : OpenClHandle(handle)
{
    protected override bool ReleaseHandle() => OpenClNative.clReleaseEvent(handle) == OpenClNative.Success;
}
