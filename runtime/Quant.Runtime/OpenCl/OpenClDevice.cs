using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Quant.Runtime.OpenCl;

/// <summary>What kind of processor an OpenCL device is.</summary>
public enum OpenClDeviceKind
{
    /// <summary>A CPU (PoCL, for instance).</summary>
    Cpu,
    /// <summary>A GPU.</summary>
    Gpu,
    /// <summary>Anything else (accelerators, custom devices).</summary>
    Other,
}

/// <summary>
/// One OpenCL device of one platform, as the ICD loader lists them. Devices are numbered across platforms in
/// the loader's order; <see cref="Select"/> picks one by that index or by name.
/// </summary>
public sealed unsafe class OpenClDevice
{
    /// <summary>The environment variable that picks the device when none is named: an index or part of a name.</summary>
    public const string EnvironmentVariable = "QUANT_OPENCL_DEVICE";

    private static readonly object s_gate = new();
    private static IReadOnlyList<OpenClDevice>? s_all;
    private static string? s_unavailable;

    private OpenClDevice(int index, nint platform, nint device)
    {
        Index = index;
        PlatformId = platform;
        DeviceId = device;
        PlatformName = PlatformString(platform, OpenClNative.PlatformName);
        Name = DeviceString(device, OpenClNative.DeviceName);
        Vendor = DeviceString(device, OpenClNative.DeviceVendor);
        Version = DeviceString(device, OpenClNative.DeviceVersion);
        DriverVersion = DeviceString(device, OpenClNative.DriverVersion);
        Extensions = DeviceString(device, OpenClNative.DeviceExtensions);
        ulong type = DeviceValue<ulong>(device, OpenClNative.DeviceType);
        Kind = (type & OpenClNative.DeviceTypeGpu) != 0 ? OpenClDeviceKind.Gpu : (type & OpenClNative.DeviceTypeCpu) != 0 ? OpenClDeviceKind.Cpu : OpenClDeviceKind.Other;
        ComputeUnits = (int)DeviceValue<uint>(device, OpenClNative.DeviceMaxComputeUnits);
        MaxWorkGroupSize = (long)DeviceValue<nuint>(device, OpenClNative.DeviceMaxWorkGroupSize);
        GlobalMemoryBytes = (long)DeviceValue<ulong>(device, OpenClNative.DeviceGlobalMemSize);
        LocalMemoryBytes = (long)DeviceValue<ulong>(device, OpenClNative.DeviceLocalMemSize);
        MaxAllocationBytes = (long)DeviceValue<ulong>(device, OpenClNative.DeviceMaxMemAllocSize);
        BaseAddressAlignBytes = (int)(DeviceValue<uint>(device, OpenClNative.DeviceMemBaseAddrAlign) / 8);
        CorrectlyRoundedDivide = (DeviceValue<ulong>(device, OpenClNative.DeviceSingleFpConfig) & OpenClNative.FpCorrectlyRoundedDivideSqrt) != 0;
    }

    /// <summary>The device's index across all platforms, in the loader's order.</summary>
    public int Index { get; }

    /// <summary>The platform's name (<c>Portable Computing Language</c>, <c>NVIDIA CUDA</c>).</summary>
    public string PlatformName { get; }

    /// <summary>The device's name (<c>NVIDIA H100 80GB HBM3</c>).</summary>
    public string Name { get; }

    /// <summary>The device's vendor.</summary>
    public string Vendor { get; }

    /// <summary>The OpenCL version the device supports (<c>OpenCL 3.0 CUDA</c>).</summary>
    public string Version { get; }

    /// <summary>The driver's version.</summary>
    public string DriverVersion { get; }

    /// <summary>The extensions the device reports, space-separated.</summary>
    public string Extensions { get; }

    /// <summary>CPU, GPU or other.</summary>
    public OpenClDeviceKind Kind { get; }

    /// <summary>Compute units (multiprocessors, CPU cores).</summary>
    public int ComputeUnits { get; }

    /// <summary>The largest work-group, in work-items.</summary>
    public long MaxWorkGroupSize { get; }

    /// <summary>Global memory, bytes.</summary>
    public long GlobalMemoryBytes { get; }

    /// <summary>Local memory per work-group, bytes.</summary>
    public long LocalMemoryBytes { get; }

    /// <summary>The largest single buffer, bytes.</summary>
    public long MaxAllocationBytes { get; }

    /// <summary>The alignment a sub-buffer's origin needs, bytes.</summary>
    public int BaseAddressAlignBytes { get; }

    /// <summary>True when float32 division can be correctly rounded (the kernels are then built to do so).</summary>
    public bool CorrectlyRoundedDivide { get; }

    internal nint PlatformId { get; }

    internal nint DeviceId { get; }

    /// <summary>"Platform: device", the text <see cref="Select"/> matches names against.</summary>
    public string FullName => $"{PlatformName}: {Name}";

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{Index}] {FullName} ({Kind}, {Version})");

    /// <summary>Every device of every platform, or an empty list with the reason when there is none (no loader, no platform).</summary>
    public static IReadOnlyList<OpenClDevice> All(out string? unavailableReason)
    {
        lock (s_gate)
        {
            if (s_all is null) Enumerate();
            unavailableReason = s_unavailable;
            return s_all!;
        }
    }

    /// <summary>Every device of every platform.</summary>
    /// <exception cref="OpenClException">No OpenCL platform or device is installed.</exception>
    public static IReadOnlyList<OpenClDevice> All()
    {
        var all = All(out string? reason);
        if (all.Count == 0) throw new OpenClException("clGetPlatformIDs", OpenClNative.PlatformNotFoundKhr, reason);
        return all;
    }

    /// <summary>
    /// The device named by <paramref name="nameOrIndex"/>: an index from <see cref="All()"/>, or text that occurs in one
    /// device's <see cref="FullName"/> (case-insensitive). Null reads <see cref="EnvironmentVariable"/>; when that is unset
    /// too, the first GPU, else the first device.
    /// </summary>
    /// <exception cref="OpenClException">No OpenCL device is installed.</exception>
    /// <exception cref="ArgumentException">No device, or more than one, matches the name.</exception>
    public static OpenClDevice Select(string? nameOrIndex = null) => SelectWith(nameOrIndex, Environment.GetEnvironmentVariable);

    /// <summary><see cref="Select(string?)"/> with the environment read through <paramref name="environment"/> (for tests).</summary>
    internal static OpenClDevice SelectWith(string? nameOrIndex, Func<string, string?> environment)
    {
        var all = All();
        nameOrIndex ??= environment(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(nameOrIndex)) return all.FirstOrDefault(d => d.Kind == OpenClDeviceKind.Gpu) ?? all[0];
        string list = string.Join("; ", all.Select(d => d.ToString()));
        if (int.TryParse(nameOrIndex, NumberStyles.None, CultureInfo.InvariantCulture, out int index))
        {
            return index < all.Count ? all[index] : throw new ArgumentException($"There is no OpenCL device {index}; the devices are: {list}.", nameof(nameOrIndex));
        }
        var matches = all.Where(d => d.FullName.Contains(nameOrIndex, StringComparison.OrdinalIgnoreCase)).ToList();
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new ArgumentException($"No OpenCL device's name contains '{nameOrIndex}'; the devices are: {list}.", nameof(nameOrIndex)),
            _ => throw new ArgumentException($"Several OpenCL devices' names contain '{nameOrIndex}' ({string.Join("; ", matches)}); name one by its index.", nameof(nameOrIndex)),
        };
    }

    private static void Enumerate()
    {
        var devices = new List<OpenClDevice>();
        s_all = devices;
        uint platformCount;
        int status;
        try
        {
            status = OpenClNative.clGetPlatformIDs(0, null, &platformCount);
        }
        catch (DllNotFoundException e)
        {
            s_unavailable = "the OpenCL ICD loader libOpenCL.so.1 is not installed (" + e.Message + ")";
            return;
        }
        if (status == OpenClNative.PlatformNotFoundKhr || (status == OpenClNative.Success && platformCount == 0))
        {
            s_unavailable = "libOpenCL.so.1 found no OpenCL platform (install one, such as pocl-opencl-icd, or point OCL_ICD_VENDORS at its .icd file)";
            return;
        }
        OpenClNative.Check(status, "clGetPlatformIDs");
        var platforms = new nint[platformCount];
        fixed (nint* p = platforms) OpenClNative.Check(OpenClNative.clGetPlatformIDs(platformCount, p, null), "clGetPlatformIDs");
        foreach (var platform in platforms)
        {
            uint count;
            status = OpenClNative.clGetDeviceIDs(platform, OpenClNative.DeviceTypeAll, 0, null, &count);
            if (status == OpenClNative.DeviceNotFound) continue;
            OpenClNative.Check(status, "clGetDeviceIDs");
            var ids = new nint[count];
            fixed (nint* p = ids) OpenClNative.Check(OpenClNative.clGetDeviceIDs(platform, OpenClNative.DeviceTypeAll, count, p, null), "clGetDeviceIDs");
            foreach (var id in ids) devices.Add(new OpenClDevice(devices.Count, platform, id));
        }
        if (devices.Count == 0) s_unavailable = "the OpenCL platforms have no device";
    }

    private static string PlatformString(nint platform, uint name)
    {
        nuint size;
        OpenClNative.Check(OpenClNative.clGetPlatformInfo(platform, name, 0, null, &size), "clGetPlatformInfo");
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes) OpenClNative.Check(OpenClNative.clGetPlatformInfo(platform, name, size, b, null), "clGetPlatformInfo");
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }

    private static string DeviceString(nint device, uint name)
    {
        nuint size;
        OpenClNative.Check(OpenClNative.clGetDeviceInfo(device, name, 0, null, &size), "clGetDeviceInfo");
        var bytes = new byte[(int)size];
        fixed (byte* b = bytes) OpenClNative.Check(OpenClNative.clGetDeviceInfo(device, name, size, b, null), "clGetDeviceInfo");
        return Encoding.UTF8.GetString(bytes).TrimEnd('\0').Trim();
    }

    private static T DeviceValue<T>(nint device, uint name) where T : unmanaged
    {
        T value = default;
        OpenClNative.Check(OpenClNative.clGetDeviceInfo(device, name, (nuint)sizeof(T), &value, null), "clGetDeviceInfo");
        return value;
    }
}
