using System;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime;
using Quant.Runtime.OpenCl;
using Xunit.Abstractions;

namespace Quant.OpenCl.Tests;

/// <summary>The bindings: device choice, buffers and sub-buffers, pinned uploads, the program cache, build logs and status names in errors, events.</summary>
public sealed class OpenClRuntimeTests(ITestOutputHelper output)
{
    private static OpenClContext Context => OpenClTestDevice.Context;

    [OpenClFact]
    public void Devices_AreListed_AndSelectableByIndexAndName()
    {
        var all = OpenClDevice.All();
        foreach (var device in all) output.WriteLine(device.ToString());
        Assert.NotEmpty(all);
        var first = all[0];
        Assert.Same(first, OpenClDevice.Select("0"));
        Assert.Contains(OpenClDevice.Select(first.Name.ToUpperInvariant()), all.Where(d => d.FullName.Contains(first.Name, StringComparison.OrdinalIgnoreCase)));
        var error = Assert.Throws<ArgumentException>(() => OpenClDevice.Select("no device is called this"));
        Assert.Contains(first.Name, error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => OpenClDevice.Select(all.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.True(first.ComputeUnits > 0 && first.GlobalMemoryBytes > 0 && first.LocalMemoryBytes >= 32 * 1024);
    }

    [OpenClFact]
    public void Select_WithoutAName_ReadsTheEnvironmentVariable()
    {
        // Through a lookup of its own: setting the process's variable would move the other tests' default device under them.
        var last = OpenClDevice.All()[^1];
        string index = last.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Same(last, OpenClDevice.SelectWith(null, name => name == OpenClDevice.EnvironmentVariable ? index : null));
        Assert.Throws<ArgumentException>(() => OpenClDevice.SelectWith(null, _ => "no device is called this"));
        var first = OpenClDevice.SelectWith(null, _ => null);
        Assert.True(first.Kind == OpenClDeviceKind.Gpu || OpenClDevice.All().All(d => d.Kind != OpenClDeviceKind.Gpu));
    }

    [OpenClFact]
    public void Build_FailingSource_ThrowsWithCallStatusNameAndLog()
    {
        var error = Assert.Throws<OpenClException>(() => Context.Build("__kernel void broken(__global float* y) { y[0] = undeclared_name; }"));
        Assert.Equal("clBuildProgram", error.Call);
        Assert.Equal("CL_BUILD_PROGRAM_FAILURE", error.StatusName);
        Assert.False(string.IsNullOrWhiteSpace(error.BuildLog));
        Assert.Contains("undeclared_name", error.BuildLog, StringComparison.Ordinal);
        Assert.StartsWith("clBuildProgram failed with CL_BUILD_PROGRAM_FAILURE (-11)", error.Message, StringComparison.Ordinal);
    }

    [OpenClFact]
    public void Build_SameSourceAndOptions_ReturnsTheCachedProgram()
    {
        const string source = "__kernel void twice(__global float* y) { y[get_global_id(0)] *= 2.0f; }";
        var a = Context.Build(source);
        Assert.Same(a, Context.Build(source));
        Assert.NotSame(a, Context.Build(source, "-D UNUSED=1"));
        Assert.NotSame(a, Context.Build(source + "\n"));
    }

    [OpenClFact]
    public void Kernel_BadArgumentIndex_NamesTheCallAndStatus()
    {
        using var kernel = Context.Build("__kernel void one(__global float* y) { y[0] = 1.0f; }").CreateKernel("one");
        var error = Assert.Throws<OpenClException>(() => kernel.Arg(7, 1));
        Assert.Equal("clSetKernelArg", error.Call);
        Assert.Equal("CL_INVALID_ARG_INDEX", error.StatusName);
        Assert.Contains("one, argument 7", error.Message, StringComparison.Ordinal);
        Assert.Equal("CL_INVALID_KERNEL_NAME", Assert.Throws<OpenClException>(() => Context.Build("__kernel void one(__global float* y) { y[0] = 1.0f; }").CreateKernel("two")).StatusName);
    }

    [OpenClFact]
    public void Upload_LargerThanTheStagingBuffer_RoundTrips()
    {
        // 40 MB: above the 16 MB that go straight through clEnqueueWriteBuffer, so the pinned staging path runs.
        var data = new byte[40 << 20];
        new SplitMix64(9000).NextBytes(data);
        using var buffer = Context.Upload<byte>(data);
        var back = new byte[data.Length];
        buffer.Read<byte>(back);
        Assert.True(data.AsSpan().SequenceEqual(back));
    }

    [OpenClFact]
    public void SubBuffer_SharesItsParentsMemory()
    {
        int align = Math.Max(Context.Device.BaseAddressAlignBytes, 4);
        var data = Enumerable.Range(0, 4 * align).Select(i => (byte)i).ToArray();
        using var parent = Context.Upload<byte>(data);
        using var shard = parent.Slice(align, 2 * align);
        var middle = new byte[2 * align];
        shard.Read<byte>(middle);
        Assert.True(data.AsSpan(align, 2 * align).SequenceEqual(middle));
        shard.Write<byte>(new byte[] { 0xAB, 0xCD }, 1);
        var whole = new byte[data.Length];
        parent.Read<byte>(whole);
        Assert.Equal(0xAB, whole[align + 1]);
        Assert.Equal(0xCD, whole[align + 2]);
        if (Context.Device.BaseAddressAlignBytes > 1) Assert.Throws<ArgumentException>(() => parent.Slice(1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => parent.Slice(align, 4 * align));
    }

    [OpenClFact]
    public void Copy_IsTimedByItsEvent()
    {
        var data = new float[1 << 18];
        for (int i = 0; i < data.Length; i++) data[i] = i;
        using var source = Context.Upload<float>(data);
        using var destination = Context.Allocate(source.Bytes);
        using (var copy = Context.Copy(source, destination, source.Bytes)) Assert.True(copy.ElapsedNanoseconds > 0);
        var back = new float[data.Length];
        destination.Read<float>(back);
        Assert.Equal(data, back);
    }

    [OpenClFact]
    public void Backends_AgreeOnOneMatrix()
    {
        var (matrix, _) = Cases.Quantized("q4_K", 5, 512, 9100);
        using var cpu = DeviceQuantMatrix.Create(matrix, Backend.Cpu);
        using var device = DeviceQuantMatrix.Create(matrix, Backend.OpenCl);
        Assert.Equal(Backend.OpenCl, device.Backend);
        var a = new float[5 * 512];
        var b = new float[5 * 512];
        cpu.Dequantize(a);
        device.Dequantize(b);
        Check.BitsEqual(a, b, "q4_K, CPU and OpenCL backends");
        Assert.Throws<ArgumentException>(() => device.Dequantize(new float[10]));
        Assert.Throws<ArgumentException>(() => device.MatMul(new float[511], new float[5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Gather(5, new float[512], [5], new float[1]));
    }

    [OpenClFact]
    public void EveryCatalogueFormat_HasOpenClKernels() => Assert.Empty(OpenClTestDevice.FormatsWithoutKernels());

    [OpenClFact]
    public void FormatSources_DefineTheLayoutTheHostReads()
    {
        foreach (var entry in QuantCatalog.All)
        {
            Assert.InRange(DeviceKernels.RowsPerGroup(entry.OpenClSource!), 1, 4);
        }
    }
}
