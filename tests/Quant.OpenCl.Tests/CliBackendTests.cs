using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Quant.Cli;
using Quant.Formats.Tests.Support;

namespace Quant.OpenCl.Tests;

/// <summary><c>quant raw dequantize</c> and <c>raw matvec</c> with <c>--backend opencl</c>: the CPU's results, and usage errors for a bad backend or device.</summary>
public sealed class CliBackendTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "quant-opencl-cli-tests", Guid.NewGuid().ToString("N"));

    public CliBackendTests() => Directory.CreateDirectory(_dir);

    private string File(string name) => Path.Combine(_dir, name);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Cli.Cli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private void Quantized(string format, int rows, int k)
    {
        var weights = TestData.Matrix(new SplitMix64(9500), rows, k, Dist.Gaussian);
        System.IO.File.WriteAllBytes(File("w.f32"), MemoryMarshal.AsBytes(weights.AsSpan()).ToArray());
        var x = TestData.Matrix(new SplitMix64(9501), 1, k, Dist.Gaussian);
        System.IO.File.WriteAllBytes(File("x.f32"), MemoryMarshal.AsBytes(x.AsSpan()).ToArray());
        Assert.Equal(0, Run("raw", "quantize", "-f", format, "-k", k.ToString(), File("w.f32"), File("w.bin")).Code);
    }

    [OpenClTheory]
    [InlineData("q4_K")]
    [InlineData("mxfp4")]
    [InlineData("nvfp4")]
    public void RawDequantizeAndMatVec_OnOpenCl_MatchTheCpu(string format)
    {
        Quantized(format, 9, 512);
        var cpu = Run("raw", "dequantize", "-f", format, "-k", "512", File("w.bin"), File("cpu.f32"));
        var device = Run("raw", "dequantize", "-f", format, "-k", "512", "--backend", "opencl", File("w.bin"), File("gpu.f32"));
        Assert.True(cpu.Code == 0 && device.Code == 0, cpu.Err + device.Err);
        Assert.Contains("on OpenCL device", device.Out, StringComparison.Ordinal);
        Assert.Equal(System.IO.File.ReadAllBytes(File("cpu.f32")), System.IO.File.ReadAllBytes(File("gpu.f32")));

        Assert.Equal(0, Run("raw", "matvec", "-f", format, "-k", "512", File("w.bin"), File("x.f32"), File("ycpu.f32")).Code);
        var gemv = Run("raw", "matvec", "-f", format, "-k", "512", "--backend", "opencl", "--device", OpenClTestDevice.Context.Device.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), File("w.bin"), File("x.f32"), File("ygpu.f32"));
        Assert.True(gemv.Code == 0, gemv.Err);
        var w = MemoryMarshal.Cast<byte, float>(System.IO.File.ReadAllBytes(File("cpu.f32"))).ToArray();
        var x = MemoryMarshal.Cast<byte, float>(System.IO.File.ReadAllBytes(File("x.f32"))).ToArray();
        var y = MemoryMarshal.Cast<byte, float>(System.IO.File.ReadAllBytes(File("ygpu.f32"))).ToArray();
        for (int r = 0; r < 9; r++)
        {
            var (dot, scale) = Float64.Dot(w.AsSpan(r * 512, 512), x);
            Check.Close(dot, y[r], scale, Check.UnderflowSlack(512), $"{format} matvec row {r}");
        }
    }

    [OpenClFact]
    public void BadBackendOrDevice_IsAUsageError()
    {
        Quantized("q4_0", 2, 64);
        var backend = Run("raw", "dequantize", "-f", "q4_0", "-k", "64", "--backend", "cuda", File("w.bin"), File("y.f32"));
        Assert.Equal(ExitCodes.Usage, backend.Code);
        var device = Run("raw", "dequantize", "-f", "q4_0", "-k", "64", "--backend", "opencl", "--device", "no device is called this", File("w.bin"), File("y.f32"));
        Assert.Equal(ExitCodes.Usage, device.Code);
        Assert.Contains("--device: No OpenCL device's name contains 'no device is called this'", device.Err, StringComparison.Ordinal);
        Assert.False(System.IO.File.Exists(File("y.f32")));
    }

    [OpenClFact]
    public void BenchGpu_PrintsCopyBandwidthAndOneLinePerFormatAndBatch()
    {
        var (code, output, error) = Run("bench", "gpu", "-f", "q8_0,mxfp4", "--rows", "96", "--cols", "256", "--batch", "1,9", "-i", "2", "--rotate", "2", "--copy-mb", "1", "--unique-rows", "32");
        Assert.True(code == 0, error);
        Assert.Contains("copy bandwidth:", output, StringComparison.Ordinal);
        var lines = output.Split('\n').Where(l => l.StartsWith("q8_0 ", StringComparison.Ordinal) || l.StartsWith("mxfp4 ", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, lines.Count);
        Assert.Contains(lines, l => l.Contains(" gemv ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(" gemm ", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
