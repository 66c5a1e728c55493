using System.Linq;
using System;
using System.Diagnostics;
using System.Globalization;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Uqff;
using Xunit.Abstractions;

namespace Quant.Formats.Tests.Conformance;

/// <summary>
/// The conformance suite: what every registered format must do, whoever declared it. Written once; each test
/// assembly that compiles it runs it on the formats <see cref="ConformanceFormats.Includes"/> names, so a new
/// format gets it by being registered. For every format: the round trip stays within a bound derived from its
/// declaration; every SIMD level dequantizes bit for bit like the scalar path; the fused row dot, GEMV and
/// GEMM (one and two threads) stay within 1e-5 of sum |w x| of the float64 product; binary16 and bfloat16
/// dequantization equal the rounded float32 one; UQFF layers round trip where the format has a layer type;
/// and rows that are not a whole number of blocks are refused with <see cref="QuantFormatException"/>.
/// </summary>
public sealed class FormatConformance(ITestOutputHelper output)
{
    public static TheoryData<string> Formats() => ConformanceFormats.Names();

    // ---- quantize / dequantize round trip

    /// <summary>
    /// A format's error-minimising rule (ScaleRule.ErrorMinimizing) never has a larger squared error than its default
    /// rule on any block (it starts from the default and keeps a candidate only when it is better), and a smaller total
    /// on gaussian, mixed and outlier data. Formats without such a rule pass trivially.
    /// </summary>
    [Theory, MemberData(nameof(Formats))]
    public void ErrorMinimizingRule_NeverWorseThanTheDefault_OnAnyBlock(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var info = entry.Info;
        int mse = -1;
        for (int r = 0; r < info.Rules.Count; r++) if (info.Rules[r].Rule == ScaleRule.ErrorMinimizing) mse = r;
        if (mse < 0) return;
        int bs = info.BlockSize, rows = Math.Max(8, info.TileRows), cols = bs * Math.Max(4, 1024 / bs);
        var failures = new FailureLog();
        ulong seed = 4100;
        foreach (var dist in new[] { Dist.Gaussian, Dist.Mixed, Dist.Outliers })
        {
            var rng = new SplitMix64(seed++);
            var x = TestData.Matrix(rng, rows, cols, dist);
            var byDefault = ConformanceMatrices.Dequantize(entry, ConformanceMatrices.Quantize(entry, x, rows, cols), SimdLevel.Scalar);
            var byMse = ConformanceMatrices.Dequantize(entry, ConformanceMatrices.Quantize(entry, x, rows, cols, mse), SimdLevel.Scalar);
            double totalDefault = 0, totalMse = 0;
            for (int b = 0; b < x.Length / bs; b++)
            {
                double ed = 0, em = 0;
                for (int i = b * bs; i < (b + 1) * bs; i++)
                {
                    ed += ((double)byDefault[i] - x[i]) * ((double)byDefault[i] - x[i]);
                    em += ((double)byMse[i] - x[i]) * ((double)byMse[i] - x[i]);
                }
                totalDefault += ed;
                totalMse += em;
                int block = b;
                // A per-tensor plane (nvfp4's tensor scale) is shared, so a block may trade a hair; allow float64 rounding only otherwise.
                double slack = info.Planes.Any(p => p.Extent != PlaneExtent.Block) ? 1e-3 * ed : 1e-12 * ed;
                failures.Run(() => Assert.True(em <= ed + slack, Text($"seed {seed - 1}, {format}, {dist}: block {block} has squared error {em:G6} under '{info.Rules[mse].Name}', above the default's {ed:G6}")));
            }
            output.WriteLine(Text($"{format}, {dist}: total squared error default {totalDefault:G5}, {info.Rules[mse].Name} {totalMse:G5} ({totalMse / totalDefault:P1})"));
            failures.Run(() => Assert.True(totalMse < totalDefault, Text($"{format}, {dist}: '{info.Rules[mse].Name}' is not better in total ({totalMse:G6} vs {totalDefault:G6})")));
        }
        failures.ThrowIfAny();
    }

    /// <summary>
    /// N(0, 1) rows quantized by every rule, and by the default rule with a random importance row: every block's RMS
    /// error is within the format's grid bound (<see cref="ElementGrid"/>), and one, two and all threads write the same bytes.
    /// </summary>
    [Theory, MemberData(nameof(Formats))]
    public void RoundTrip_EveryRule_BlockRmsErrorWithinTheElementGridBound(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var info = entry.Info;
        var grid = ElementGrid.For(entry);
        int bs = info.BlockSize, cols = bs * Math.Max(4, 1024 / bs), rows = 8;
        const ulong seed = 4001;
        var rng = new SplitMix64(seed);
        var data = TestData.Matrix(rng, rows, cols, Dist.Gaussian);
        var importance = new float[cols];
        for (int i = 0; i < cols; i++) importance[i] = (float)(0.05 + 5 * rng.NextDouble());

        var failures = new FailureLog();
        for (int rule = -1; rule < info.Rules.Count; rule++)
        {
            // rule -1: the default rule with an importance matrix; formats whose rules ignore it quantize the same.
            float[]? weights = rule < 0 ? importance : null;
            string label = rule < 0 ? $"rule {info.Rules[info.DefaultRule].Name} with an importance row" : $"rule {info.Rules[rule].Name}";
            var quantized = ConformanceMatrices.Quantize(entry, data, rows, cols, rule, weights, threads: 1);
            foreach (int threads in new[] { 2, 0 })
            {
                var again = ConformanceMatrices.Quantize(entry, data, rows, cols, rule, weights, threads);
                for (int p = 0; p < info.Planes.Count; p++)
                {
                    int plane = p, t = threads;
                    failures.Run(() => Check.BytesEqual(quantized.Plane(plane).Span, again.Plane(plane).Span, $"seed {seed}, {format}, {label}: plane {plane} with {t} threads against 1 thread"));
                }
            }

            var values = ConformanceMatrices.Dequantize(entry, quantized, SimdLevel.Scalar);
            double squared = 0, energy = 0;
            for (int block = 0; block < rows * cols / bs; block++)
            {
                double amax = 0, error = 0;
                for (int i = block * bs; i < (block + 1) * bs; i++)
                {
                    amax = Math.Max(amax, Math.Abs(data[i]));
                    double d = (double)values[i] - data[i];
                    error += d * d;
                    energy += (double)data[i] * data[i];
                }
                squared += error;
                double rms = Math.Sqrt(error / bs), bound = grid.Bound(amax);
                int b = block;
                failures.Run(() => Assert.True(rms <= bound, Text(
                    $"seed {seed}, {format}, {label}: block {b} (row {b * bs / cols}) has RMS error {rms:G5} for amax {amax:G5}, above the bound {bound:G5} = {ElementGrid.Slack} x {grid.Derivation}")));
            }
            output.WriteLine(Text($"{format}, {label}: relative RMSE {Math.Sqrt(squared / energy):G4} on N(0, 1); per-block bound {ElementGrid.Slack} x {grid.Relative:G4} x amax"));
        }
        failures.ThrowIfAny();
    }

    // ---- SIMD levels against scalar

    /// <summary>Whole rows, block sub-ranges and the multithreaded driver, at every level, bit for bit like the scalar path.</summary>
    [Theory, MemberData(nameof(Formats))]
    public void Dequantize_EverySimdLevel_BitIdenticalToScalar(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int bs = entry.Info.BlockSize;
        ulong seed = 4100;
        var failures = new FailureLog();
        foreach (int blocks in ConformanceMatrices.ColumnSweep(bs))
        {
            int cols = blocks * bs;
            foreach (var (label, matrix) in ConformanceMatrices.Mixed(entry, cols, seed++))
            {
                var scalar = ConformanceMatrices.Dequantize(entry, matrix, SimdLevel.Scalar);
                foreach (var level in TestFormats.Levels)
                {
                    string context = $"seed {seed - 1}, {format}, K = {cols}, {label}, {level}";
                    failures.Run(() => Check.BitsEqual(scalar, ConformanceMatrices.Dequantize(entry, matrix, level), $"{context}: whole rows", cols));
                    foreach (int threads in new[] { 1, 2 })
                    {
                        var driver = new float[scalar.Length];
                        kernels.Dequantize(matrix, driver, threads, level);
                        failures.Run(() => Check.BitsEqual(scalar, driver, $"{context}: QuantMatMul.Dequantize, {threads} threads", cols));
                    }
                    for (int r = 0; r < matrix.Rows; r++)
                    {
                        foreach (int first in new[] { 1, blocks / 2, blocks - 1 })
                        {
                            if (first <= 0 || first >= blocks) continue;
                            foreach (int count in new[] { 1, Math.Min(3, blocks - first), blocks - first })
                            {
                                var part = new float[count * bs];
                                entry.DequantizeBlocks(matrix.Row(r), first, part, level);
                                int row = r, from = first;
                                failures.Run(() => Check.BitsEqual(scalar.AsSpan(row * cols + from * bs, part.Length), part, $"{context}: row {row}, blocks {from}..{from + part.Length / bs - 1}"));
                            }
                        }
                    }
                }
            }
        }
        failures.ThrowIfAny();
    }

    // ---- fused row dot, GEMV, GEMM against float64

    [Theory, MemberData(nameof(Formats))]
    public void DotRow_EverySimdLevel_WithinFloat64DotOfTheDequantizedRow(string format)
    {
        var entry = ConformanceFormats.Get(format);
        int bs = entry.Info.BlockSize;
        ulong seed = 4200;
        int rowsChecked = 0;
        var failures = new FailureLog();
        foreach (int blocks in ConformanceMatrices.ColumnSweep(bs))
        {
            int cols = blocks * bs;
            var xRng = new SplitMix64(seed * 31);
            foreach (var (label, matrix) in ConformanceMatrices.Mixed(entry, cols, seed++))
            {
                var x = TestData.Matrix(xRng, 1, cols, xRng.NextBool() ? Dist.Gaussian : Dist.Mixed);
                var w = ConformanceMatrices.Dequantize(entry, matrix, SimdLevel.Scalar);
                for (int r = 0; r < matrix.Rows; r++)
                {
                    var wr = w.AsSpan(r * cols, cols);
                    Assert.True(Float64.AllFinite(wr), $"seed {seed - 1}, {format}, K = {cols}, {label}: row {r} dequantizes to non-finite values");
                    var (dot, abs) = Float64.Dot(wr, x);
                    foreach (var level in TestFormats.Levels)
                    {
                        float got = entry.DotRow(matrix.Row(r), x, level);
                        string context = $"seed {seed - 1}, {format}, K = {cols}, {label}, row {r}: DotRow at {level}";
                        failures.Run(() => Check.Close(dot, got, abs, Check.UnderflowSlack(cols), context));
                    }
                    rowsChecked++;
                }
            }
        }
        output.WriteLine($"{format}: {rowsChecked} rows at {TestFormats.Levels.Length} levels");
        failures.ThrowIfAny();
    }

    private static readonly int[] s_matMulRows = [1, 3, 17, 33];
    private static readonly int[] s_matMulBlocks = [1, 2, 3, 8, 17, 33, 65, 128];
    private static readonly int[] s_batches = [1, 2, 3, 7, 33];

    /// <summary>Adding the bias rounds once more: an ulp of |b| (2^-23) on top of the dot's bound.</summary>
    private static readonly double s_biasSlack = Math.ScaleB(1.0, -23);

    /// <summary>
    /// <c>y = x W^T + b</c> through the format's driver: batch 1 (GEMV, the fused row kernel) and batches up to 33
    /// (GEMM), one and two threads, with and without bias, at every level, against the float64 product of the
    /// scalar-dequantized weights. Every output must be written (y starts as NaN).
    /// </summary>
    [Theory, MemberData(nameof(Formats))]
    public void MatMul_GemvAndGemm_OneAndTwoThreads_EveryLevel_WithinFloat64(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int bs = entry.Info.BlockSize;
        var failures = new FailureLog();
        var clock = Stopwatch.StartNew();
        long calls = 0;
        ulong seed = 4300;
        foreach (int n in s_matMulRows)
        {
            foreach (int blocks in s_matMulBlocks)
            {
                int k = blocks * bs;
                if (blocks > 1 && k > 4096) continue;
                var rng = new SplitMix64(seed++);
                var weights = TestData.Matrix(rng, n, k, rng.NextBool() ? Dist.Gaussian : Dist.Mixed);
                int rule = rng.NextInt(entry.Info.Rules.Count);
                var matrix = ConformanceMatrices.Quantize(entry, weights, n, k, rule);
                if (rng.NextBool() && ConformanceMatrices.RandomBlocks(entry, matrix, rng) is { } random) matrix = random;
                var w = ConformanceMatrices.Dequantize(entry, matrix, SimdLevel.Scalar);
                var bias = TestData.Matrix(rng, 1, n, Dist.Gaussian);
                foreach (int batch in s_batches)
                {
                    var x = TestData.Matrix(rng, batch, k, rng.NextInt(4) == 0 ? Dist.Mixed : Dist.Gaussian);
                    var expected = new double[batch * n];
                    var scale = new double[batch * n];
                    for (int b = 0; b < batch; b++)
                    {
                        for (int r = 0; r < n; r++) (expected[b * n + r], scale[b * n + r]) = Float64.Dot(w.AsSpan(r * k, k), x.AsSpan(b * k, k));
                    }
                    foreach (var level in TestFormats.Levels)
                    {
                        foreach (int threads in new[] { 1, 2 })
                        {
                            foreach (bool withBias in new[] { false, true })
                            {
                                var y = new float[batch * n];
                                y.AsSpan().Fill(float.NaN);
                                kernels.MatMul(matrix, x, y, withBias ? bias : default, threads, level);
                                calls++;
                                string context = $"seed {seed - 1}, {format} (rule {entry.Info.Rules[rule].Name}), N = {n}, K = {k}, batch {batch}, {threads} threads, {(withBias ? "bias" : "no bias")}, {level}";
                                failures.Run(() =>
                                {
                                    for (int b = 0; b < batch; b++)
                                    {
                                        for (int r = 0; r < n; r++)
                                        {
                                            double bv = withBias ? bias[r] : 0;
                                            Check.Close(expected[b * n + r] + bv, y[b * n + r], scale[b * n + r], Math.Abs(bv) * s_biasSlack + Check.UnderflowSlack(k), $"{context}: y[{b}, {r}]");
                                        }
                                    }
                                });
                            }
                        }
                    }
                }
            }
        }
        output.WriteLine($"{format}: {calls} MatMul calls in {clock.ElapsedMilliseconds} ms");
        failures.ThrowIfAny();
    }

    // ---- binary16 and bfloat16 outputs

    /// <summary>
    /// <see cref="QuantMatMul"/>'s binary16 and bfloat16 dequantization (through the driver, one and two threads,
    /// and block sub-ranges through <see cref="QuantRows"/>), at every level, equal to rounding the scalar float32
    /// dequantization to nearest even, computed here by table search: overflow to infinity, NaN kept as a NaN of its sign.
    /// </summary>
    [Theory, MemberData(nameof(Formats))]
    public void Dequantize_ToHalfAndBFloat16_EqualsRoundingTheFloat32Dequantization(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int bs = entry.Info.BlockSize;
        ulong seed = 4400;
        var failures = new FailureLog();
        foreach (int blocks in new[] { 1, 3, 17, 65, 128 })
        {
            int cols = blocks * bs;
            if (blocks > 1 && cols > 4096) continue; // rows past 1024 elements cross the narrowing chunks
            foreach (var (label, matrix) in ConformanceMatrices.Mixed(entry, cols, seed++))
            {
                var floats = ConformanceMatrices.Dequantize(entry, matrix, SimdLevel.Scalar);
                var half = Rounded(floats, MinifloatLayout.Binary16);
                var bf16 = Rounded(floats, MinifloatLayout.BFloat16);
                foreach (var level in TestFormats.Levels)
                {
                    foreach (int threads in new[] { 1, 2 })
                    {
                        string context = $"seed {seed - 1}, {format}, K = {cols}, {label}, {level}, {threads} threads";
                        var h = new Half[floats.Length];
                        kernels.Dequantize(matrix, h, threads, level);
                        failures.Run(() => SameCodes(half, h, x => BitConverter.HalfToUInt16Bits(x), MinifloatLayout.Binary16, $"{context}: Half"));
                        var b = new BFloat16[floats.Length];
                        kernels.Dequantize(matrix, b, threads, level);
                        failures.Run(() => SameCodes(bf16, b, x => x.RawValue, MinifloatLayout.BFloat16, $"{context}: BFloat16"));
                    }
                    if (blocks < 3) continue;
                    var range = entry.Accept(new SubRangeVisitor(matrix, 1, blocks - 2, level));
                    string where = $"seed {seed - 1}, {format}, K = {cols}, {label}, {level}: blocks 1..{blocks - 2}";
                    for (int r = 0; r < matrix.Rows; r++)
                    {
                        var expectedHalf = half.AsSpan(r * cols + bs, (blocks - 2) * bs).ToArray();
                        var expectedBf16 = bf16.AsSpan(r * cols + bs, (blocks - 2) * bs).ToArray();
                        int row = r;
                        failures.Run(() => SameCodes(expectedHalf, range.Half[row], x => BitConverter.HalfToUInt16Bits(x), MinifloatLayout.Binary16, $"{where}, row {row}: QuantRows Half"));
                        failures.Run(() => SameCodes(expectedBf16, range.BFloat16[row], x => x.RawValue, MinifloatLayout.BFloat16, $"{where}, row {row}: QuantRows BFloat16"));
                    }
                }
            }
        }
        failures.ThrowIfAny();
    }

    private static int[] Rounded(float[] values, MinifloatLayout layout)
    {
        var codes = new int[values.Length];
        for (int i = 0; i < values.Length; i++) codes[i] = layout.Encode(values[i], Numerics.MinifloatOverflow.Infinity);
        return codes;
    }

    private static void SameCodes<T>(int[] expected, T[] actual, Func<T, ushort> bits, MinifloatLayout layout, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            int got = bits(actual[i]);
            // Every NaN rounds to a NaN of the same sign; its payload is not part of the contract.
            bool same = got == expected[i] || layout.IsNaN(expected[i]) && layout.IsNaN(got) && (got & layout.SignBit) == (expected[i] & layout.SignBit);
            if (!same)
            {
                throw new Xunit.Sdk.XunitException(Text($"{context}: element {i} is 0x{got:X4} ({layout.Value(got):R}), expected 0x{expected[i]:X4} ({layout.Value(expected[i]):R})"));
            }
        }
    }

    /// <summary>Dequantizes a block range of every row to binary16 and bfloat16 through <see cref="QuantRows"/>, with the format as a type argument.</summary>
    private sealed class SubRangeVisitor(QuantMatrix matrix, int firstBlock, int blocks, SimdLevel level) : IQuantFormatVisitor<(Half[][] Half, BFloat16[][] BFloat16)>
    {
        public (Half[][] Half, BFloat16[][] BFloat16) Visit<TFormat>() where TFormat : struct, IQuantFormat<TFormat>
        {
            int length = blocks * TFormat.Info.BlockSize;
            var half = new Half[matrix.Rows][];
            var bf16 = new BFloat16[matrix.Rows][];
            for (int r = 0; r < matrix.Rows; r++)
            {
                half[r] = new Half[length];
                bf16[r] = new BFloat16[length];
                QuantRows.DequantizeBlocks<TFormat>(matrix.Row(r), firstBlock, half[r], level);
                QuantRows.DequantizeBlocks<TFormat>(matrix.Row(r), firstBlock, bf16[r], level);
            }
            return (half, bf16);
        }
    }

    // ---- UQFF

    /// <summary>
    /// A format with a UQFF layer type writes a layer blob that reads back as the same format, shape, planes and
    /// bias (F32, signs of zero kept); one without refuses to write with <see cref="QuantFormatException"/>.
    /// </summary>
    [Theory, MemberData(nameof(Formats))]
    public void Uqff_WriteThenRead_RoundTripsPlanesBiasAndShape_OrRefusesWithoutALayerType(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var info = entry.Info;
        int bs = info.BlockSize;
        ulong seed = 4500;
        if (info.Uqff == UqffLayer.None)
        {
            var matrix = ConformanceMatrices.Quantize(entry, TestData.Matrix(new SplitMix64(seed), 2, bs, Dist.Gaussian), 2, bs);
            Assert.Throws<QuantFormatException>(() => UqffCodec.WriteLayer(matrix));
            output.WriteLine($"{format} has no UQFF layer type; WriteLayer refuses it");
            return;
        }
        foreach (bool withBias in new[] { false, true })
        {
            foreach (var (n, k) in new[] { (1, bs), (3, 2 * bs), (17, 33 * bs), (5, Math.Max(bs, 4096 / bs * bs)) })
            {
                var rng = new SplitMix64(seed++);
                var quantized = ConformanceMatrices.Quantize(entry, TestData.Matrix(rng, n, k, Dist.Mixed), n, k);
                var matrix = ConformanceMatrices.RandomBlocks(entry, quantized, rng) ?? quantized;
                var bias = withBias ? TestData.Matrix(rng, 1, n, Dist.Gaussian) : null;
                if (bias is not null) bias[0] = -0f;
                string context = $"seed {seed - 1}, {format}, {n} x {k}, {(withBias ? "bias" : "no bias")}";

                var blob = UqffCodec.WriteLayer(matrix, bias);
                Assert.Equal((byte)info.Uqff, blob[4]);
                var back = UqffCodec.ReadQuantLayer(blob, out var biasBack);
                Assert.Same(info, back.Format);
                Assert.Equal(n, back.Rows);
                Assert.Equal(k, back.Columns);
                for (int p = 0; p < info.Planes.Count; p++) Check.BytesEqual(matrix.Plane(p).Span, back.Plane(p).Span, $"{context}: plane {p}");
                if (bias is null) Assert.Null(biasBack);
                else Check.BitsEqual(bias, biasBack!, $"{context}: bias");

                var layer = UqffCodec.ReadLayer(blob);
                Assert.Equal(info.Uqff, layer.Type);
                Assert.Equal(UqffCodec.Version, layer.Version);
                if (layer.Type == UqffLayer.Gguf)
                {
                    Assert.Equal(info.GgufType, layer.GgmlType);
                    Assert.Equal(new[] { n, k }, layer.GgufDims);
                    Check.BytesEqual(matrix.Plane(0).Span, layer.GgufData, $"{context}: Gguf data");
                }
                else if (layer.Type == UqffLayer.Mxfp4)
                {
                    // Checkpoint layouts: one U8 record per plane, [N, bytes of that plane per row]. (The other
                    // layer types' records are pinned byte for byte by UqffByteLayoutTests.)
                    Assert.Equal(info.Planes.Count, layer.Tensors.Count);
                    for (int p = 0; p < layer.Tensors.Count; p++)
                    {
                        Assert.Equal(UqffDType.U8, layer.Tensors[p].DType);
                        Assert.Equal(new[] { n, info.RowBytes(p, k) }, layer.Tensors[p].Dims);
                    }
                }
                if (bias is not null)
                {
                    Assert.Equal(UqffDType.F32, layer.Bias!.DType);
                    Assert.Equal(new[] { n }, layer.Bias.Dims);
                }
                Check.BitsEqual(ConformanceMatrices.Dequantize(entry, matrix, SimdLevel.Scalar), ConformanceMatrices.Dequantize(entry, back, QuantSimd.Best), $"{context}: dequantized after the round trip", k);
            }
        }
    }

    // ---- shapes that are not whole blocks

    /// <summary>
    /// A row length that is not a positive whole number of blocks is refused with <see cref="QuantFormatException"/>
    /// by the matrix, the driver, the row kernels and the UQFF reader, before any byte is read or written.
    /// </summary>
    [Theory, MemberData(nameof(Formats))]
    public void Rows_NotAWholeNumberOfBlocks_AreRefusedWithQuantFormatException(string format)
    {
        var entry = ConformanceFormats.Get(format);
        var info = entry.Info;
        var kernels = FormatKernels.For(entry);
        int bs = info.BlockSize;
        var bad = new System.Collections.Generic.List<int> { 0, -bs };
        if (bs > 1) bad.AddRange([1, bs - 1, bs + 1, 2 * bs + bs / 2, 3 * bs - 1]);
        foreach (int cols in bad)
        {
            string context = $"{format}, a row of {cols} elements (block {bs})";
            AssertRefused(() => new QuantMatrix(info, 2, cols), $"{context}: new QuantMatrix");
            if (cols <= 0) continue;
            AssertRefused(() => kernels.Quantize(new float[2 * cols], 2, cols), $"{context}: the driver's Quantize");
            // Planes generously long, so that only the row length can be wrong.
            var planes = new byte[info.Planes.Count][];
            for (int p = 0; p < planes.Length; p++) planes[p] = new byte[info.RowBytes(p, (cols / bs + 2) * bs) + 64];
            var x = new float[cols];
            var destination = new float[(cols / bs + 1) * bs];
            AssertRefused(() => entry.DotRow(Row(cols, planes), x, SimdLevel.Scalar), $"{context}: DotRow");
            AssertRefused(() => entry.DotRow(Row(cols, planes), x, QuantSimd.Best), $"{context}: DotRow at {QuantSimd.Best}");
            AssertRefused(() => entry.DequantizeBlocks(Row(cols, planes), 0, destination, QuantSimd.Best), $"{context}: DequantizeBlocks");
            AssertRefused(() => entry.QuantizeRow(x, Writer(cols, planes), QuantizeOptions.Default), $"{context}: QuantizeRow");
        }
        if (info.Uqff == UqffLayer.Gguf && bs > 1)
        {
            // A Gguf layer whose K is not a whole number of blocks: patch dims[1] of a valid blob (after u32 version,
            // u8 type, u32 data_len, u8 has_bias, u32 ggml_type, u32 ndims, u32 dims[0]).
            var matrix = ConformanceMatrices.Quantize(entry, TestData.Matrix(new SplitMix64(4600), 2, 2 * bs, Dist.Gaussian), 2, 2 * bs);
            var blob = UqffCodec.WriteLayer(matrix);
            Assert.Equal(2 * bs, BitConverter.ToInt32(blob, 22));
            BitConverter.TryWriteBytes(blob.AsSpan(22), 2 * bs + 1);
            AssertRefused(() => UqffCodec.ReadQuantLayer(blob, out _), $"{format}: a UQFF Gguf layer of K = {2 * bs + 1}");
        }
    }

    private static QuantRow Row(int columns, byte[][] planes) => planes.Length switch
    {
        1 => new QuantRow(columns, planes[0]),
        2 => new QuantRow(columns, planes[0], planes[1]),
        3 => new QuantRow(columns, planes[0], planes[1], planes[2]),
        _ => new QuantRow(columns, planes[0], planes[1], planes[2], planes[3]),
    };

    private static QuantRowWriter Writer(int columns, byte[][] planes) => planes.Length switch
    {
        1 => new QuantRowWriter(columns, planes[0]),
        2 => new QuantRowWriter(columns, planes[0], planes[1]),
        3 => new QuantRowWriter(columns, planes[0], planes[1], planes[2]),
        _ => new QuantRowWriter(columns, planes[0], planes[1], planes[2], planes[3]),
    };

    private static void AssertRefused(Action call, string what)
    {
        var e = Record.Exception(call);
        Assert.True(e is QuantFormatException, $"{what}: expected a QuantFormatException, got {(e is null ? "no exception" : e.GetType().Name + ": " + e.Message)}");
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
