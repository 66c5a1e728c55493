using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Quant;
using Quant.Kernels;
using Quant.Runtime.Layers;
using Quant.Runtime.Tensors;

namespace CustomFormat;

/// <summary>
/// A consumer of the Quant packages: declares its own format (<see cref="Q3Affine"/>), quantizes random
/// weights with the kernels the generator wrote for it, multiplies with them, writes and reads its UQFF
/// layer blob and runs it in a <see cref="QuantLinear"/> layer, checking each step against what it
/// computes itself (a byte-by-byte decoder of the record, float64 products). Exit code 0 when every check
/// passes, 1 otherwise.
/// </summary>
internal static class Program
{
    private const int N = 96;      // output features (rows of W)
    private const int K = 512;     // input features (columns of W): 16 blocks of 32
    private const int Batch = 3;   // activation rows
    private const int BlockBytes = 16;

    private static readonly List<string> s_failures = [];

    private static int Main()
    {
        var info = Q3Affine.Info;
        Console.WriteLine($"Quant sample: the custom format '{info.Name}' ({info.Description})");

        // 1. The generator ran in this compilation: Q3Affine.Info and Q3Affine.Format are generated (without
        // them this file would not compile), and so is the module initializer that registered the format.
        Check("the registry finds 'q3_affine' by name, as the generated Format struct",
            QuantFormatRegistry.TryGet("q3_affine", out var entry) && entry.FormatType == typeof(Q3Affine.Format) && ReferenceEquals(entry.Info, info));
        Check("the registry finds it by its private GGUF type 4003", QuantFormatRegistry.FindByGgufType(4003)?.FormatType == typeof(Q3Affine.Format));
        Check("the layout is 32 elements in 16 bytes, one plane, 4 bits per weight",
            info.BlockSize == 32 && info.BytesPerBlock == BlockBytes && info.Planes.Count == 1 && info.BitsPerWeight == 4.0 && info.CodeBits == 3);
        Console.WriteLine(Text($"  formats registered: {QuantCatalog.All.Count} (the catalogue's and this one)"));

        // 2. Random weights, activations and bias; rows get different offsets so the minimums differ.
        var random = new SplitMix64(20261122);
        var weights = new float[N * K];
        for (int n = 0; n < N; n++)
        {
            float offset = 0.02f * (n % 7 - 3);
            for (int k = 0; k < K; k++) weights[n * K + k] = offset + 0.05f * random.NextGaussian();
        }
        var x = new float[Batch * K];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextGaussian();
        var bias = new float[N];
        for (int i = 0; i < N; i++) bias[i] = 0.1f * random.NextGaussian();

        // 3. Quantize with the generated kernels; dequantize with them and with our own decoder of the record.
        var w = QuantMatMul.Quantize<Q3Affine.Format>(weights, N, K);
        var dequantized = new float[N * K];
        QuantMatMul.Dequantize<Q3Affine.Format>(w, dequantized);
        var decoded = DecodeByHand(w.Plane(0).Span, out var blockScales, out var blockMins);
        Check("Dequantize equals a byte-by-byte decoder of the declared record, bit for bit", BitwiseEqual(dequantized, decoded, out int differing),
            Text($"{differing} of {decoded.Length} elements differ"));

        // MinMax rounds each element to the nearest code: it is within half a step of its weight (plus what
        // storing d and m as F16 costs: 2^-11 relative each, and q <= 7).
        double worstExcess = 0, sumSquaredError = 0, sumSquared = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            double d = blockScales[i / 32], m = blockMins[i / 32];
            double error = Math.Abs((double)weights[i] - dequantized[i]);
            double bound = 0.5 * d + Math.ScaleB(7 * d + Math.Abs(m), -10) + 1e-7;
            worstExcess = Math.Max(worstExcess, error / bound);
            sumSquaredError += error * error;
            sumSquared += (double)weights[i] * weights[i];
        }
        Check("every weight is within half a quantization step of its code", worstExcess <= 1, Text($"worst error / bound = {worstExcess:F3}"));
        Console.WriteLine(Text($"  weight error: RMS {Math.Sqrt(sumSquaredError / weights.Length):E3}, relative {Math.Sqrt(sumSquaredError / sumSquared):F4} (3 bits + F16 scale and min)"));

        // 4. GEMM y = x W^T + b with the generic driver, against float64 on the dequantized weights.
        var y = new float[Batch * N];
        QuantMatMul.MatMul<Q3Affine.Format>(w, x, y, bias);
        var reference = Reference(x, dequantized, bias, out var magnitude);
        double matMulError = WorstRelative(y, reference, magnitude);
        Check("QuantMatMul.MatMul matches float64 on the dequantized weights (within float32 summation error)", matMulError <= 1, Text($"worst error / bound = {matMulError:F4}"));
        var unquantized = Reference(x, weights, bias, out _);
        Console.WriteLine(Text($"  y = x W^T + b, [{Batch}, {N}]: worst error vs float64 on the same weights {MaxAbs(y, reference):E2}; relative RMS error vs the float weights {RelativeRms(y, unquantized):F4}"));

        // 5. The layer: QuantLinear over the QuantMatrix, Forward on a HostTensor.
        var layer = new QuantLinear(w, HostTensor.FromFloats(bias, N));
        var input = HostTensor.FromFloats(x, Batch, K);
        var output = layer.Forward(input);
        Check("QuantLinear.Forward gives [3, 96] and the driver's result, bit for bit",
            output.Rank == 2 && output.Dim(0) == Batch && output.Dim(1) == N && BitwiseEqual(output.ToFloat32Array(), y, out _));
        Console.WriteLine(Text($"  layer '{layer.Name}': {layer.InFeatures} -> {layer.OutFeatures}, bias {layer.HasBias}; y[0, 0..4] = {string.Join(", ", Array.ConvertAll(output.ToFloat32Array()[..4], v => v.ToString("F5", CultureInfo.InvariantCulture)))}"));

        // 6. UQFF: the generated writer and the layer's Serialize give one blob; write it, read it back both ways.
        byte[] generatedBlob = Q3Affine.WriteUqffLayer(w, bias);
        byte[] layerBlob = layer.Serialize();
        Check("Q3Affine.WriteUqffLayer and QuantLinear.Serialize write the same blob", generatedBlob.AsSpan().SequenceEqual(layerBlob));
        string path = Path.Combine(Path.GetTempPath(), $"quant-sample-{Environment.ProcessId}.uqff");
        byte[] blob;
        try
        {
            File.WriteAllBytes(path, layerBlob);
            blob = File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
        // Gguf layer: u32 version, u8 type 0, u32 data_len, u8 has_bias, u32 ggml_type, u32 ndims, dims, blocks, bias record.
        Check("the blob is a UQFF 0.2.0 Gguf layer of ggml type 4003 holding every block",
            BinaryPrimitives.ReadUInt32LittleEndian(blob) == 0x200 && blob[4] == 0 && BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(5)) == N * K / 32 * BlockBytes
            && blob[9] == 1 && BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(10)) == 4003);
        var read = Q3Affine.ReadUqffLayer(blob, out var readBias);
        Check("Q3Affine.ReadUqffLayer gives back the same blocks and bias",
            read.Rows == N && read.Columns == K && read.Plane(0).Span.SequenceEqual(w.Plane(0).Span) && readBias is not null && BitwiseEqual(readBias, bias, out _));
        var loaded = QuantMethods.Deserialize(blob);
        var loadedOutput = loaded.Forward(input);
        Check("QuantMethods.Deserialize gives a q3_affine QuantLinear whose Forward is the same, bit for bit",
            loaded is QuantLinear { Name: "q3_affine" } && loaded.HasBias && BitwiseEqual(loadedOutput.ToFloat32Array(), y, out _));
        Console.WriteLine(Text($"  UQFF layer blob: {blob.Length} bytes ({N} x {K} weights in {N * K / 32 * BlockBytes} bytes of blocks, plus header and F32 bias)"));

        if (s_failures.Count == 0)
        {
            Console.WriteLine("all checks passed");
            return 0;
        }
        Console.WriteLine(Text($"{s_failures.Count} check(s) failed: {string.Join("; ", s_failures)}"));
        return 1;
    }

    /// <summary>
    /// Decodes the record as <see cref="Q3Affine"/>'s documentation describes it, independently of the
    /// generated code: per 16-byte block, F16 <c>d</c>, F16 <c>m</c>, then 32 codes of 3 bits, LSB first.
    /// </summary>
    private static float[] DecodeByHand(ReadOnlySpan<byte> blocks, out double[] scales, out double[] mins)
    {
        int count = blocks.Length / BlockBytes;
        var values = new float[count * 32];
        scales = new double[count];
        mins = new double[count];
        for (int b = 0; b < count; b++)
        {
            var block = blocks.Slice(b * BlockBytes, BlockBytes);
            float d = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block));
            float m = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(block[2..]));
            scales[b] = d;
            mins[b] = m;
            var codes = block[4..];
            for (int j = 0; j < 32; j++)
            {
                int bit = 3 * j;
                int pair = codes[bit / 8] | (bit / 8 + 1 < codes.Length ? codes[bit / 8 + 1] << 8 : 0);
                int q = (pair >> (bit % 8)) & 7;
                values[b * 32 + j] = d * q + m;
            }
        }
        return values;
    }

    /// <summary><c>x [Batch, K] W^T + b</c> in float64, and for each output the sum of the magnitudes of its terms.</summary>
    private static double[] Reference(float[] x, float[] w, float[] bias, out double[] magnitude)
    {
        var y = new double[Batch * N];
        magnitude = new double[Batch * N];
        for (int b = 0; b < Batch; b++)
        {
            for (int n = 0; n < N; n++)
            {
                double sum = bias[n], size = Math.Abs(bias[n]);
                for (int k = 0; k < K; k++)
                {
                    double term = (double)x[b * K + k] * w[n * K + k];
                    sum += term;
                    size += Math.Abs(term);
                }
                y[b * N + n] = sum;
                magnitude[b * N + n] = size;
            }
        }
        return y;
    }

    /// <summary>
    /// The worst ratio of error to the bound of a float32 dot product of K terms in any order
    /// (<c>(K + 1) * 2^-24</c> times the sum of magnitudes, doubled for the products' own rounding).
    /// </summary>
    private static double WorstRelative(float[] y, double[] reference, double[] magnitude)
    {
        double worst = 0;
        for (int i = 0; i < y.Length; i++)
        {
            double bound = 2 * (K + 2) * Math.ScaleB(1, -24) * magnitude[i] + 1e-30;
            worst = Math.Max(worst, Math.Abs(y[i] - reference[i]) / bound);
        }
        return worst;
    }

    private static double MaxAbs(float[] y, double[] reference)
    {
        double worst = 0;
        for (int i = 0; i < y.Length; i++) worst = Math.Max(worst, Math.Abs(y[i] - reference[i]));
        return worst;
    }

    private static double RelativeRms(float[] y, double[] reference)
    {
        double error = 0, size = 0;
        for (int i = 0; i < y.Length; i++)
        {
            error += (y[i] - reference[i]) * (y[i] - reference[i]);
            size += reference[i] * reference[i];
        }
        return Math.Sqrt(error / size);
    }

    private static bool BitwiseEqual(ReadOnlySpan<float> a, ReadOnlySpan<float> b, out int differing)
    {
        differing = a.Length == b.Length ? 0 : Math.Max(a.Length, b.Length);
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) differing++;
        }
        return differing == 0;
    }

    private static void Check(string what, bool passed, string? detail = null)
    {
        Console.WriteLine($"{(passed ? "ok  " : "FAIL")} {what}{(detail is null ? "" : $" ({detail})")}");
        if (!passed) s_failures.Add(what);
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>SplitMix64 (Steele, Lea and Flood), seeded, so every run sees the same numbers.</summary>
internal sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in (0, 1].</summary>
    public double NextUnit() => ((Next() >> 11) + 1) * Math.ScaleB(1, -53);

    /// <summary>A standard normal sample (Box-Muller).</summary>
    public float NextGaussian() => (float)(Math.Sqrt(-2 * Math.Log(NextUnit())) * Math.Cos(2 * Math.PI * NextUnit()));
}
