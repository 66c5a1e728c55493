using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Quant.Uqff;

namespace Quant.Cli.Tests;

/// <summary>
/// <c>--imatrix FILE.f32</c> on <c>quant raw quantize</c> and <c>quant raw uqff</c>: every <c>*-imatrix</c> case of
/// ggml's peer vectors (input.f32 quantized by ggml_quantize_chunk with imatrix.f32) reproduced byte for byte
/// through the command, for each type whose ggml quantizer takes an importance matrix.
/// </summary>
public sealed class ImatrixTests
{
    private static readonly string[] s_types = ["q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_nl", "iq4_xs"];

    /// <summary>Every <c>*-imatrix</c> case folder of those types (the folder name is the format's name).</summary>
    public static IEnumerable<object[]> Cases()
    {
        foreach (string type in s_types)
        {
            foreach (string dir in Directory.GetDirectories(Path.Combine(Repo.PeerVectors, type)).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(dir);
                if (name.EndsWith("-imatrix", StringComparison.Ordinal)) yield return [type, name];
            }
        }
    }

    [Fact]
    public void Cases_CoverEveryImatrixTypeAndDistribution()
    {
        // Guards against a theory that silently runs on fewer folders than the data holds.
        var cases = Cases().Select(c => $"{c[0]}/{c[1]}").ToHashSet();
        foreach (string type in s_types)
        {
            foreach (string dist in new[] { "gauss", "heavy", "outliers", "edge" }) Assert.Contains($"{type}/{dist}-imatrix", cases);
        }
        Assert.Equal(4 * s_types.Length, cases.Count);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RawQuantize_WithImatrix_ReproducesGgmlQuantizeChunkBytes(string type, string name)
    {
        var peer = Peer.Load(type, name);
        using var temp = new TempDir();
        foreach (string threads in new[] { "1", "2" })
        {
            string output = temp.File($"quant-{threads}.bin");
            var result = CliRunner.Ok("raw", "quantize", "--format", type, "--cols", $"{peer.Cols}", "--imatrix", peer.File("imatrix.f32"),
                "--threads", threads, peer.File("input.f32"), output);
            Assert.Contains("importance matrix", result.Out, StringComparison.Ordinal);
            Raw.AssertSameBytes(File.ReadAllBytes(peer.File("quant.bin")), File.ReadAllBytes(output), $"{type}/{name} quant.bin (--threads {threads})");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RawUqff_WithImatrix_WritesGgmlsBlocksInTheGgufLayer_AndUnuqffGivesGgmlsFloats(string type, string name)
    {
        var peer = Peer.Load(type, name);
        using var temp = new TempDir();
        string blob = temp.File("layer.uqff"), floats = temp.File("dequant.f32");
        CliRunner.Ok("raw", "uqff", "--format", type, "--cols", $"{peer.Cols}", "--imatrix", peer.File("imatrix.f32"), peer.File("input.f32"), blob);

        var layer = UqffCodec.ReadLayer(File.ReadAllBytes(blob));
        Assert.Equal(UqffLayer.Gguf, layer.Type);
        Assert.Equal(peer.GgmlTypeId, layer.GgmlType);
        Assert.Equal(new[] { peer.Rows, peer.Cols }, layer.GgufDims);
        Raw.AssertSameBytes(File.ReadAllBytes(peer.File("quant.bin")), layer.GgufData, $"{type}/{name}: the Gguf layer's blocks");

        CliRunner.Ok("raw", "unuqff", blob, floats);
        Raw.AssertSameBytes(File.ReadAllBytes(peer.File("dequant.f32")), File.ReadAllBytes(floats), $"{type}/{name}: unuqff floats");
    }

    /// <summary>Without --imatrix the same input gives ggml's reference quantization instead, which differs: the option reaches the quantizer.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void RawQuantize_WithoutImatrix_DoesNotGiveTheImatrixBytes(string type, string name)
    {
        if (!name.StartsWith("gauss", StringComparison.Ordinal)) return;
        var peer = Peer.Load(type, name);
        using var temp = new TempDir();
        string output = temp.File("quant.bin");
        CliRunner.Ok("raw", "quantize", "--format", type, "--cols", $"{peer.Cols}", peer.File("input.f32"), output);
        Assert.NotEqual(File.ReadAllBytes(peer.File("quant.bin")), File.ReadAllBytes(output));
    }

    [Fact]
    public void Imatrix_OfTheWrongLength_IsBadData_NamingTheFileAndTheSizes()
    {
        var peer = Peer.Load("q4_K", "gauss-imatrix");
        using var temp = new TempDir();
        byte[] importance = File.ReadAllBytes(peer.File("imatrix.f32"));
        File.WriteAllBytes(temp.File("short.f32"), importance[..^4]);
        File.WriteAllBytes(temp.File("long.f32"), [.. importance, 0, 0, 0, 0]);
        File.WriteAllBytes(temp.File("ragged.f32"), importance[..^1]);
        foreach (string file in new[] { "short.f32", "long.f32", "ragged.f32" })
        {
            foreach (string command in new[] { "quantize", "uqff" })
            {
                var result = CliRunner.Run("raw", command, "--format", "q4_K", "--cols", $"{peer.Cols}", "--imatrix", temp.File(file), peer.File("input.f32"), temp.File("out.bin"));
                Assert.True(result.ExitCode == 3, $"raw {command} --imatrix {file}: {result}");
                string line = Assert.Single(result.ErrLines);
                Assert.Contains(file, line, StringComparison.Ordinal);
                Assert.Contains($"{peer.Cols} float32", line, StringComparison.Ordinal);
                Assert.False(File.Exists(temp.File("out.bin")));
            }
        }
    }

    [Fact]
    public void Imatrix_WithANegativeOrNonFiniteImportance_IsBadData()
    {
        var peer = Peer.Load("q4_0", "gauss-imatrix");
        using var temp = new TempDir();
        float[] importance = Raw.ReadFloats(peer.File("imatrix.f32"));
        foreach (float bad in new[] { -1f, float.NaN, float.PositiveInfinity })
        {
            var copy = (float[])importance.Clone();
            copy[17] = bad;
            Raw.WriteFloats(temp.File("bad.f32"), copy);
            var result = CliRunner.Run("raw", "quantize", "--format", "q4_0", "--cols", $"{peer.Cols}", "--imatrix", temp.File("bad.f32"), peer.File("input.f32"), temp.File("out.bin"));
            Assert.True(result.ExitCode == 3, $"importance {bad} at column 17: {result}");
            Assert.Contains("column 17", Assert.Single(result.ErrLines), StringComparison.Ordinal);
        }
    }

    /// <summary>One peer-vector case folder and the shape its meta.json gives.</summary>
    private sealed record Peer(string Folder, int Rows, int Cols, int GgmlTypeId)
    {
        public string File(string name) => Path.Combine(Folder, name);

        public static Peer Load(string type, string name)
        {
            string folder = Path.Combine(Repo.PeerVectors, type, name);
            using var meta = System.Text.Json.JsonDocument.Parse(System.IO.File.ReadAllBytes(Path.Combine(folder, "meta.json")));
            var root = meta.RootElement;
            Assert.True(root.GetProperty("imatrix").GetBoolean(), $"{type}/{name} is not an imatrix case");
            return new Peer(folder, root.GetProperty("rows").GetInt32(), root.GetProperty("cols").GetInt32(), root.GetProperty("ggml_type_id").GetInt32());
        }
    }
}
