using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using Quant.Kernels;
using Quant.Runtime.Gguf;

namespace Quant.Cli.Tests;

/// <summary><c>quant inspect</c> on GGUF files and UQFF layer blobs: tables, JSON, and bad input.</summary>
public sealed class InspectTests
{
    private static string WriteGguf(TempDir dir)
    {
        string path = dir.File("model.gguf");
        var tokens = Enumerable.Range(0, 300).Select(i => $"tok{i}").ToArray();
        var metadata = new GgufMetadata()
            .Add("general.architecture", "llama")
            .Add("llama.block_count", 2u)
            .Add("llama.attention.layer_norm_rms_epsilon", 1e-5f)
            .Add("test.i64", long.MinValue)
            .Add("test.nested", GgufArray.Of(GgufArray.Of(1, 2), GgufArray.Of("x")))
            .Add("tokenizer.ggml.tokens", GgufArray.Of(tokens));
        var q8 = FormatKernels.For("q8_0").Quantize(Raw.Gaussian(4 * 64, seed: 3), 4, 64);
        using var writer = GgufWriter.Create(path, metadata,
        [
            GgufTensorSpec.Matrix("blk.0.attn_q.weight", 4, 64, GgufTensorType.Get("q8_0")),
            GgufTensorSpec.Vector("blk.0.attn_norm.weight", 64, GgufTensorType.F32),
        ]);
        writer.WriteTensor("blk.0.attn_q.weight", q8.Plane(0).Span);
        writer.WriteTensor("blk.0.attn_norm.weight", new byte[256]);
        writer.Commit();
        return path;
    }

    [Fact]
    public void Gguf_Table_ShowsHeaderMetadataAbbreviatedAndTensors()
    {
        using var dir = new TempDir();
        string path = WriteGguf(dir);
        var result = CliRunner.Ok("inspect", path);
        Assert.Contains($"{path}: GGUF, {new FileInfo(path).Length} bytes; version 3, alignment 32", result.Out);
        Assert.Contains("llama.block_count", result.Out);
        Assert.Contains("1E-05", result.Out);
        Assert.Contains("string[300]", result.Out);
        Assert.Contains("\"tok7\", ... (300 in all)]", result.Out);
        Assert.DoesNotContain("tok8\"", result.Out);
        Assert.Contains("[[1, 2], [\"x\"]]", result.Out);
        var row = result.Out.Split('\n').Single(l => l.Contains("blk.0.attn_q.weight", StringComparison.Ordinal));
        Assert.Contains("Q8_0", row);
        Assert.Contains("q8_0", row);
        Assert.Contains("[4, 64]", row);
        Assert.Contains((4 * 2 * 34).ToString(System.Globalization.CultureInfo.InvariantCulture), row);
        Assert.Contains("2 tensors, 528 bytes of tensor data", result.Out);
    }

    [Fact]
    public void Gguf_Json_HasEveryValueComplete()
    {
        using var dir = new TempDir();
        string path = WriteGguf(dir);
        var result = CliRunner.Ok("inspect", path, "--json");
        using var doc = JsonDocument.Parse(result.Out);
        var root = doc.RootElement;
        Assert.Equal("GGUF", root.GetProperty("kind").GetString());
        Assert.Equal(3, root.GetProperty("properties").GetProperty("version").GetInt32());
        var metadata = root.GetProperty("metadata").EnumerateArray().ToDictionary(m => m.GetProperty("key").GetString()!, m => m);
        Assert.Equal(300, metadata["tokenizer.ggml.tokens"].GetProperty("value").GetArrayLength());
        Assert.Equal("tok299", metadata["tokenizer.ggml.tokens"].GetProperty("value")[299].GetString());
        Assert.Equal(long.MinValue, metadata["test.i64"].GetProperty("value").GetInt64());
        Assert.Equal(1e-5f, metadata["llama.attention.layer_norm_rms_epsilon"].GetProperty("value").GetSingle());
        Assert.Equal("u32", metadata["llama.block_count"].GetProperty("type").GetString());
        var tensor = root.GetProperty("tensors")[0];
        Assert.Equal("blk.0.attn_q.weight", tensor.GetProperty("name").GetString());
        Assert.Equal("Q8_0", tensor.GetProperty("type").GetString());
        Assert.Equal("q8_0", tensor.GetProperty("format").GetString());
        Assert.Equal(new long[] { 4, 64 }, tensor.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(272, tensor.GetProperty("bytes").GetInt64());
    }

    [Theory]
    [InlineData("q4_0", "Gguf (0)", "ggml 2")]
    [InlineData("mxfp4", "Mxfp4 (6)", "U8")]
    public void UqffLayerBlob_ShowsLayerTypeAndRecords(string format, string layerType, string tensorType)
    {
        using var dir = new TempDir();
        string weights = dir.File("w.f32"), blob = dir.File("w.uqff");
        Raw.WriteFloats(weights, Raw.Gaussian(3 * 64, seed: 5));
        CliRunner.Ok("raw", "uqff", "--format", format, "--cols", "64", weights, blob);
        var table = CliRunner.Ok("inspect", blob);
        Assert.Contains($"UQFF layer blob, {new FileInfo(blob).Length} bytes; version 0.2.0, layer type {layerType}, bias false", table.Out);
        Assert.Contains(tensorType, table.Out);
        using var doc = JsonDocument.Parse(CliRunner.Ok("inspect", "--json", blob).Out);
        var first = doc.RootElement.GetProperty("tensors")[0];
        Assert.Equal(format, first.GetProperty("format").GetString());
        Assert.Equal(3, first.GetProperty("shape")[0].GetInt64());
    }

    [Fact]
    public void UnknownOrCorruptFiles_AreBadData_InOneLine()
    {
        using var dir = new TempDir();
        string other = dir.File("notes.txt");
        File.WriteAllText(other, "not a model");
        var unknown = CliRunner.Run("inspect", other);
        Assert.Equal(ExitCodes.BadData, unknown.ExitCode);
        Assert.Single(unknown.ErrLines);
        Assert.Contains("none of the file kinds", unknown.Err);

        string path = WriteGguf(dir);
        byte[] bytes = File.ReadAllBytes(path);
        string truncated = dir.File("truncated.gguf");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length - 100)]);
        var corrupt = CliRunner.Run("inspect", truncated);
        Assert.Equal(ExitCodes.BadData, corrupt.ExitCode);
        Assert.Single(corrupt.ErrLines);
        Assert.Contains("tensor 'blk.0.attn_norm.weight'", corrupt.Err);
        Assert.Contains(truncated, corrupt.Err);

        var missing = CliRunner.Run("inspect", dir.File("nope.gguf"));
        Assert.Equal(ExitCodes.BadData, missing.ExitCode);
    }
}
