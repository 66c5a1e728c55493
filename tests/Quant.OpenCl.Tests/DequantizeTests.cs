using System;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime;
using Xunit.Abstractions;

namespace Quant.OpenCl.Tests;

/// <summary>
/// The device's dequantization of every format equals the CPU's bit for bit: to float32, and to binary16 as the CPU rounds
/// its floats (nearest even). Any NaN matches any NaN (payloads are not part of the contract), as in the CPU tests.
/// </summary>
public sealed class DequantizeTests(ITestOutputHelper output)
{
    public static TheoryData<string> Formats() => OpenClTestDevice.Formats();

    [OpenClTheory, MemberData(nameof(Formats))]
    public void Dequantize_QuantizedWeights_EqualCpuBitForBit(string format)
    {
        var context = OpenClTestDevice.Context;
        var failures = new FailureLog();
        double buildSeconds = 0;
        ulong seed = 7000;
        foreach (var (rows, k) in Cases.Shapes(FormatKernels.For(format).Info))
        {
            var (matrix, kernels) = Cases.Quantized(format, rows, k, seed++);
            using var device = new OpenClQuantMatrix(context, matrix);
            buildSeconds = device.Program.BuildSeconds;
            string where = $"{format}, {rows} x {k}, seed {seed - 1}, on {context.Device.Name}";

            var expected = Cases.CpuFloats(kernels, matrix);
            var actual = new float[expected.Length];
            actual.AsSpan().Fill(float.NaN);
            device.Dequantize(actual);
            failures.Run(() => Check.BitsEqual(expected, actual, where + ", float32", k));

            var expectedHalf = new Half[expected.Length];
            kernels.Dequantize(matrix, expectedHalf, threads: 1);
            var actualHalf = new Half[expected.Length];
            device.Dequantize(actualHalf);
            failures.Run(() => HalvesEqual(expectedHalf, actualHalf, where + ", binary16"));
        }
        output.WriteLine($"{format} on {context.Device.FullName}: program built in {buildSeconds:0.00} s");
        failures.ThrowIfAny();
    }

    [OpenClTheory, MemberData(nameof(Formats))]
    public void Dequantize_RandomPlaneBytes_EqualCpuBitForBit(string format)
    {
        // Every code and every scale pattern: subnormal, infinite and NaN scales included.
        var context = OpenClTestDevice.Context;
        var kernels = FormatKernels.For(format);
        var info = kernels.Info;
        int k = info.BlockSize >= 16 ? 4 * info.BlockSize : 64, rows = 9;
        var rng = new SplitMix64(7100);
        var matrix = new QuantMatrix(info, rows, k);
        for (int p = 0; p < info.Planes.Count; p++) rng.NextBytes(matrix.Plane(p).Span);
        using var device = new OpenClQuantMatrix(context, matrix);
        var expected = Cases.CpuFloats(kernels, matrix);
        var actual = new float[expected.Length];
        device.Dequantize(actual);
        Check.BitsEqual(expected, actual, $"{format}, random plane bytes, on {context.Device.Name}", k);
    }

    private static void HalvesEqual(Half[] expected, Half[] actual, string where)
    {
        var e = new float[expected.Length];
        var a = new float[actual.Length];
        for (int i = 0; i < e.Length; i++)
        {
            // Widening is exact, so equal floats mean equal halves (and NaN matches NaN, as for floats).
            e[i] = (float)expected[i];
            a[i] = (float)actual[i];
        }
        Check.BitsEqual(e, a, where);
    }
}
