using System;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;

namespace Quant.Formats.Tests;

/// <summary>
/// ggml's own bytes and floats (tests/data/peer-vectors), bit for bit: quantizing input.f32 with the
/// default rule gives quant.bin, dequantizing quant.bin gives dequant.f32 at every SIMD level, and the
/// dot case's row dots and GEMV match ggml's float64 y.
/// </summary>
public sealed class PeerVectorTests
{
    // ggml's type names, and the Quant format holding each ggml block record.
    private static readonly (string Ggml, string Format)[] s_types = [("q4_0", "q4_0"), ("q8_0", "q8_0"), ("mxfp4", "mxfp4_ggml")];

    public static TheoryData<string> Q4_0Cases() => CasesOf("q4_0");
    public static TheoryData<string> Q8_0Cases() => CasesOf("q8_0");
    public static TheoryData<string> Mxfp4Cases() => CasesOf("mxfp4");

    private static TheoryData<string> CasesOf(string ggmlType)
    {
        var data = new TheoryData<string>();
        foreach (var name in PeerCase.CaseNames(ggmlType)) data.Add(name);
        return data;
    }

    [Fact]
    public void PeerVectors_HoldEveryExpectedCase()
    {
        // A theory over zero cases passes silently; this fails instead when data went missing.
        foreach (var (ggml, _) in s_types)
        {
            var names = PeerCase.CaseNames(ggml);
            foreach (var expected in new[] { "dot", "edge", "gauss", "heavy", "outliers" })
            {
                Assert.Contains(expected, names);
            }
            Assert.DoesNotContain(names, n => n.EndsWith("-imatrix", StringComparison.Ordinal));
        }
    }

    [Theory, MemberData(nameof(Q4_0Cases))]
    public void Q4_0_Quantize_MatchesGgmlReference(string caseName) => QuantizeMatches("q4_0", caseName);

    [Theory, MemberData(nameof(Q8_0Cases))]
    public void Q8_0_Quantize_MatchesGgmlReference(string caseName) => QuantizeMatches("q8_0", caseName);

    [Theory, MemberData(nameof(Mxfp4Cases))]
    public void Mxfp4Ggml_Quantize_MatchesGgmlReference(string caseName) => QuantizeMatches("mxfp4", caseName);

    [Theory, MemberData(nameof(Q4_0Cases))]
    public void Q4_0_Dequantize_MatchesGgmlAtEveryLevel(string caseName) => DequantizeMatches("q4_0", caseName);

    [Theory, MemberData(nameof(Q8_0Cases))]
    public void Q8_0_Dequantize_MatchesGgmlAtEveryLevel(string caseName) => DequantizeMatches("q8_0", caseName);

    [Theory, MemberData(nameof(Mxfp4Cases))]
    public void Mxfp4Ggml_Dequantize_MatchesGgmlAtEveryLevel(string caseName) => DequantizeMatches("mxfp4", caseName);

    [Fact]
    public void Q4_0_DotAndGemv_MatchGgmlFloat64() => DotMatches("q4_0");

    [Fact]
    public void Q8_0_DotAndGemv_MatchGgmlFloat64() => DotMatches("q8_0");

    [Fact]
    public void Mxfp4Ggml_DotAndGemv_MatchGgmlFloat64() => DotMatches("mxfp4");

    private static QuantFormatEntry FormatOf(string ggmlType) => TestFormats.Get(s_types.Single(t => t.Ggml == ggmlType).Format);

    private static QuantMatrix Load(QuantFormatEntry entry, PeerCase peer)
    {
        Assert.Equal(peer.BlockSize, entry.Info.BlockSize);
        Assert.Equal(peer.TypeSize, entry.Info.BytesPerBlock);
        return new QuantMatrix(entry.Info, peer.Rows, peer.Cols, [peer.Bytes("quant.bin")]);
    }

    private static void QuantizeMatches(string ggmlType, string caseName)
    {
        var peer = new PeerCase(ggmlType, caseName);
        var entry = FormatOf(ggmlType);
        var input = peer.Floats("input.f32");
        var expected = peer.Bytes("quant.bin");

        var rowByRow = TestFormats.Quantize(entry, input, peer.Rows, peer.Cols);
        Check.BytesEqual(expected, rowByRow.Plane(0).Span, $"{peer}: QuantizeRow (default rule)", entry.Info.BytesPerBlock);

        // The threaded whole-matrix driver must write the same bytes.
        var kernels = FormatKernels.For(entry);
        foreach (int threads in new[] { 1, 2 })
        {
            var matrix = kernels.Quantize(input, peer.Rows, peer.Cols, threads: threads);
            Check.BytesEqual(expected, matrix.Plane(0).Span, $"{peer}: QuantMatMul.Quantize, {threads} threads", entry.Info.BytesPerBlock);
        }
    }

    private static void DequantizeMatches(string ggmlType, string caseName)
    {
        var peer = new PeerCase(ggmlType, caseName);
        var entry = FormatOf(ggmlType);
        var matrix = Load(entry, peer);
        var expected = peer.Floats("dequant.f32");
        var kernels = FormatKernels.For(entry);
        foreach (var level in TestFormats.Levels)
        {
            Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"{peer}: DequantizeBlocks at {level}", peer.Cols);
            foreach (int threads in new[] { 1, 2 })
            {
                var whole = new float[expected.Length];
                kernels.Dequantize(matrix, whole, threads, level);
                Check.BitsEqual(expected, whole, $"{peer}: QuantMatMul.Dequantize at {level}, {threads} threads", peer.Cols);
            }
        }
    }

    private static void DotMatches(string ggmlType)
    {
        var peer = new PeerCase(ggmlType, "dot");
        var entry = FormatOf(ggmlType);
        var matrix = Load(entry, peer);
        var w = peer.Floats("dequant.f32");
        var x = peer.Floats("x.f32");
        var y = peer.Doubles("y.f64");
        Assert.Equal(peer.Rows, y.Length);
        Assert.Equal(peer.Cols, x.Length);

        var scale = new double[peer.Rows];
        for (int r = 0; r < peer.Rows; r++)
        {
            var (dot, abs) = Float64.Dot(w.AsSpan(r * peer.Cols, peer.Cols), x);
            // ggml's y is this very sum (j ascending, float64): a check that we read the files right.
            Assert.Equal(y[r], dot);
            scale[r] = abs;
        }

        var kernels = FormatKernels.For(entry);
        foreach (var level in TestFormats.Levels)
        {
            for (int r = 0; r < peer.Rows; r++)
            {
                float got = entry.DotRow(matrix.Row(r), x, level);
                Check.Close(y[r], got, scale[r], 0, $"{peer}: DotRow row {r} at {level}");
            }
            foreach (int threads in new[] { 1, 2 })
            {
                var gemv = new float[peer.Rows];
                kernels.MatMul(matrix, x, gemv, threads: threads, level: level);
                for (int r = 0; r < peer.Rows; r++)
                {
                    Check.Close(y[r], gemv[r], scale[r], 0, $"{peer}: MatMul (GEMV) row {r} at {level}, {threads} threads");
                }
            }
        }
    }
}
