using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Quant.Cli.Tests;

/// <summary>
/// <c>quant raw quantize</c> and <c>raw dequantize</c> against ggml's own bytes and floats
/// (tests/data/peer-vectors), and <c>raw matvec</c> against ggml's float64 dot products.
/// </summary>
public sealed class PeerVectorTests
{
    // Peer-vector folder -> our format name. ggml's mxfp4 block record is our mxfp4_ggml.
    private static readonly (string Folder, string Format)[] s_formats = [("q4_0", "q4_0"), ("q8_0", "q8_0"), ("mxfp4", "mxfp4_ggml")];

    private const int Columns = 512;

    /// <summary>Every case folder of the three formats, except the imatrix ones (ImatrixTests runs those through --imatrix).</summary>
    public static IEnumerable<object[]> Cases()
    {
        foreach (var (folder, format) in s_formats)
        {
            foreach (string dir in Directory.GetDirectories(Path.Combine(Repo.PeerVectors, folder)).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(dir);
                if (name.EndsWith("-imatrix", StringComparison.Ordinal)) continue;
                yield return [folder, name, format];
            }
        }
    }

    [Fact]
    public void Cases_CoverEveryDistributionOfEachFormat()
    {
        // Guards against a theory that silently runs on fewer folders than the data holds.
        var cases = Cases().Select(c => $"{c[0]}/{c[1]}").ToHashSet();
        foreach (var (folder, _) in s_formats)
        {
            foreach (string name in new[] { "gauss", "outliers", "heavy", "edge", "dot" })
            {
                Assert.Contains($"{folder}/{name}", cases);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RawQuantize_ReproducesGgmlBlocks(string folder, string name, string format)
    {
        string dir = Path.Combine(Repo.PeerVectors, folder, name);
        using var temp = new TempDir();
        string output = temp.File("quant.bin");

        CliRunner.Ok("raw", "quantize", "--format", format, "--cols", $"{Columns}", Path.Combine(dir, "input.f32"), output);

        Raw.AssertSameBytes(File.ReadAllBytes(Path.Combine(dir, "quant.bin")), File.ReadAllBytes(output), $"{folder}/{name} quant.bin");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RawDequantize_ReproducesGgmlFloats(string folder, string name, string format)
    {
        string dir = Path.Combine(Repo.PeerVectors, folder, name);
        using var temp = new TempDir();
        string output = temp.File("dequant.f32");

        CliRunner.Ok("raw", "dequantize", "--format", format, "--cols", $"{Columns}", Path.Combine(dir, "quant.bin"), output);

        // Byte comparison is bit for bit: -0.0 and NaN payloads count.
        Raw.AssertSameBytes(File.ReadAllBytes(Path.Combine(dir, "dequant.f32")), File.ReadAllBytes(output), $"{folder}/{name} dequant.f32");
    }

    public static IEnumerable<object[]> Formats() => s_formats.Select(f => new object[] { f.Folder, f.Format });

    [Theory]
    [MemberData(nameof(Formats))]
    public void RawMatVec_MatchesGgmlFloat64DotWithinTolerance(string folder, string format)
    {
        string dir = Path.Combine(Repo.PeerVectors, folder, "dot");
        float[] w = Raw.ReadFloats(Path.Combine(dir, "dequant.f32"));
        float[] x = Raw.ReadFloats(Path.Combine(dir, "x.f32"));
        double[] expected = Raw.ReadDoubles(Path.Combine(dir, "y.f64"));
        int k = x.Length, n = expected.Length;
        Assert.Equal(n * k, w.Length);

        foreach (string threads in new[] { "1", "0" })
        {
            using var temp = new TempDir();
            string output = temp.File("y.f32");
            CliRunner.Ok("raw", "matvec", "--format", format, "--cols", $"{k}", "--threads", threads,
                Path.Combine(dir, "quant.bin"), Path.Combine(dir, "x.f32"), output);

            float[] y = Raw.ReadFloats(output);
            Assert.Equal(n, y.Length);
            for (int r = 0; r < n; r++)
            {
                double magnitude = 0;
                for (int j = 0; j < k; j++) magnitude += Math.Abs((double)w[r * k + j] * x[j]);
                double error = Math.Abs(y[r] - expected[r]);
                Assert.True(error <= 1e-5 * magnitude,
                    $"{format} row {r} (--threads {threads}): y = {y[r]:R}, ggml float64 {expected[r]:R}, error {error:E3} > 1e-5 * {magnitude:R}.");
            }
        }
    }
}
