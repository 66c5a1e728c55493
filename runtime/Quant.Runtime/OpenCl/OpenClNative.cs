using System;
using System.Runtime.InteropServices;

namespace Quant.Runtime.OpenCl;

/// <summary>
/// The OpenCL entry points the runtime calls, bound to the ICD loader <c>libOpenCL.so.1</c> (which dispatches to
/// PoCL, NVIDIA's driver or any other installed platform). Only what the backend uses is declared; handles are
/// raw pointers here and owned by the <see cref="OpenClHandle"/> subclasses.
/// </summary>
internal static unsafe partial class OpenClNative
{
    private const string Library = "libOpenCL.so.1";

    public const int Success = 0;
    public const int DeviceNotFound = -1;
    public const int PlatformNotFoundKhr = -1001;

    public const uint PlatformVersion = 0x0901, PlatformName = 0x0902, PlatformVendor = 0x0903;
    public const ulong DeviceTypeCpu = 1 << 1, DeviceTypeGpu = 1 << 2, DeviceTypeAccelerator = 1 << 3, DeviceTypeAll = 0xFFFFFFFF;
    public const uint DeviceType = 0x1000, DeviceMaxComputeUnits = 0x1002, DeviceMaxWorkGroupSize = 0x1004, DeviceMaxClockFrequency = 0x100C,
        DeviceMaxMemAllocSize = 0x1010, DeviceMemBaseAddrAlign = 0x1019, DeviceSingleFpConfig = 0x101B, DeviceGlobalMemSize = 0x101F,
        DeviceLocalMemSize = 0x1023, DeviceName = 0x102B, DeviceVendor = 0x102C, DriverVersion = 0x102D, DeviceVersion = 0x102F, DeviceExtensions = 0x1030;
    public const ulong FpCorrectlyRoundedDivideSqrt = 1 << 7;
    public const nint ContextPlatform = 0x1084;
    public const ulong QueueProfilingEnable = 1 << 1;
    public const ulong MemReadWrite = 1 << 0, MemReadOnly = 1 << 2, MemAllocHostPtr = 1 << 4;
    public const uint BufferCreateTypeRegion = 0x1220;
    public const ulong MapWrite = 1 << 1;
    public const uint ProgramBuildLog = 0x1183;
    public const uint ProfilingCommandStart = 0x1282, ProfilingCommandEnd = 0x1283;
    public const uint True = 1;

    [LibraryImport(Library)]
    public static partial int clGetPlatformIDs(uint numEntries, nint* platforms, uint* numPlatforms);

    [LibraryImport(Library)]
    public static partial int clGetPlatformInfo(nint platform, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clGetDeviceIDs(nint platform, ulong type, uint numEntries, nint* devices, uint* numDevices);

    [LibraryImport(Library)]
    public static partial int clGetDeviceInfo(nint device, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial nint clCreateContext(nint* properties, uint numDevices, nint* devices, nint notify, nint userData, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseContext(nint context);

    [LibraryImport(Library)]
    public static partial nint clCreateCommandQueue(nint context, nint device, ulong properties, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseCommandQueue(nint queue);

    [LibraryImport(Library)]
    public static partial nint clCreateBuffer(nint context, ulong flags, nuint size, void* host, int* status);

    [LibraryImport(Library)]
    public static partial nint clCreateSubBuffer(nint buffer, ulong flags, uint createType, void* info, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseMemObject(nint memory);

    [LibraryImport(Library)]
    public static partial int clEnqueueWriteBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* source,
        uint waitCount, nint* waitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueReadBuffer(nint queue, nint buffer, uint blocking, nuint offset, nuint size, void* destination,
        uint waitCount, nint* waitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clEnqueueCopyBuffer(nint queue, nint source, nint destination, nuint sourceOffset, nuint destinationOffset, nuint size,
        uint waitCount, nint* waitList, nint* evt);

    [LibraryImport(Library)]
    public static partial void* clEnqueueMapBuffer(nint queue, nint buffer, uint blocking, ulong flags, nuint offset, nuint size,
        uint waitCount, nint* waitList, nint* evt, int* status);

    [LibraryImport(Library)]
    public static partial int clEnqueueUnmapMemObject(nint queue, nint memory, void* mapped, uint waitCount, nint* waitList, nint* evt);

    [LibraryImport(Library)]
    public static partial nint clCreateProgramWithSource(nint context, uint count, byte** strings, nuint* lengths, int* status);

    [LibraryImport(Library)]
    public static partial int clBuildProgram(nint program, uint numDevices, nint* devices, byte* options, nint notify, nint userData);

    [LibraryImport(Library)]
    public static partial int clGetProgramBuildInfo(nint program, nint device, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clReleaseProgram(nint program);

    [LibraryImport(Library)]
    public static partial nint clCreateKernel(nint program, byte* name, int* status);

    [LibraryImport(Library)]
    public static partial int clReleaseKernel(nint kernel);

    [LibraryImport(Library)]
    public static partial int clSetKernelArg(nint kernel, uint index, nuint size, void* value);

    [LibraryImport(Library)]
    public static partial int clEnqueueNDRangeKernel(nint queue, nint kernel, uint dimensions, nuint* globalOffset, nuint* globalSize, nuint* localSize,
        uint waitCount, nint* waitList, nint* evt);

    [LibraryImport(Library)]
    public static partial int clFinish(nint queue);

    [LibraryImport(Library)]
    public static partial int clWaitForEvents(uint count, nint* events);

    [LibraryImport(Library)]
    public static partial int clGetEventProfilingInfo(nint evt, uint name, nuint size, void* value, nuint* sizeReturned);

    [LibraryImport(Library)]
    public static partial int clReleaseEvent(nint evt);

    /// <summary>Throws <see cref="OpenClException"/> naming <paramref name="call"/> unless <paramref name="status"/> is CL_SUCCESS.</summary>
    public static void Check(int status, string call)
    {
        if (status != Success) throw new OpenClException(call, status);
    }
}
