using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Quant.Kernels;
using Quant.Runtime.Conversion;
using Quant.Runtime.Gguf;
using Quant.Runtime.Imatrix;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;

namespace Quant.Cli.Tests;

/// <summary><c>quant demo --write-checkpoint</c> then <c>quant quantize</c>: outputs, summary, rules and importance, and every refusal.</summary>
public sealed class QuantizeTests
{
    private static string Checkpoint(TempDir dir, string architecture = "llama")
    {
        string folder = dir.File("ckpt-" + architecture);
        CliRunner.Ok("demo", "--write-checkpoint", folder, "--arch", architecture);
        return folder;
    }

    [Fact]
    public void DemoCheckpoint_QuantizesToGguf_WithATableAndPlainProgressLines()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir);
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.json"], Directory.GetFiles(checkpoint).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));
        string output = dir.File("out/model.gguf");
        var result = CliRunner.Ok("quantize", checkpoint, "--to", "q4_K", "-o", output);
        Assert.StartsWith("quantize: 16 layers and 5 other tensors", result.Out, StringComparison.Ordinal);
        Assert.Contains("quantize: layers 16/16", result.Out);
        var lines = result.Out.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("| q4_K ", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" 4.5 |", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("| total ", StringComparison.Ordinal));
        Assert.Contains("GB/s of checkpoint read", result.Out);
        Assert.DoesNotContain('\u001b', result.Out);
        Assert.Equal(["model.gguf"], Directory.GetFiles(dir.File("out")).Select(Path.GetFileName));

        using var file = GgufFile.Open(output);
        Assert.Equal("llama", file.Metadata.GetString("general.architecture"));
        Assert.Equal("gpt2", file.Metadata.GetString("tokenizer.ggml.model"));
        Assert.Equal(10, file.Metadata.GetStringArray("tokenizer.ggml.merges").Length);
        Assert.Equal("<s>", file.Metadata.GetStringArray("tokenizer.ggml.tokens")[382]);
        Assert.Equal("q4_K", file.GetTensor("blk.1.ffn_down.weight").Type.Name);
        Assert.Equal("q4_K", file.GetTensor("token_embd.weight").Type.Name);
        Assert.Equal("f32", file.GetTensor("blk.0.attn_norm.weight").Type.Name);
    }

    [Fact]
    public void OneSafetensorsFile_AndAGgufFile_AreCheckpointsToo()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir);
        // config.json beside the file gives GGUF its hyperparameters.
        CliRunner.Ok("quantize", Path.Combine(checkpoint, "model.safetensors"), "--to", "q8_0", "-o", dir.File("a.gguf"));
        CliRunner.Ok("quantize", checkpoint, "--to", "q8_0", "-o", dir.File("b.gguf"));
        Raw.AssertSameBytes(File.ReadAllBytes(dir.File("b.gguf")), File.ReadAllBytes(dir.File("a.gguf")), "GGUF from the file vs the folder");
        CliRunner.Ok("quantize", dir.File("a.gguf"), "--to", "q4_0", "-o", dir.File("c.uqff"));
        using var model = UqffModel.Open(dir.File("c.uqff"));
        Assert.Equal("q4_0", model.ReadLayer(model.IndexOf("blk.0.attn_q")).Format!.Name);
    }

    [Fact]
    public void TheCommand_WritesTheSameFileAsTheRuntime()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir);
        CliRunner.Ok("quantize", checkpoint, "--to", "q8_0", "--threads", "1", "-o", dir.File("cli.gguf"));
        var options = new CheckpointQuantizerOptions { Format = "q8_0", Threads = 2 };
        using (var source = CheckpointSource.Open(checkpoint)) CheckpointQuantizer.Run(QuantizePlan.Create(source, dir.File("api.gguf"), options), options);
        Raw.AssertSameBytes(File.ReadAllBytes(dir.File("api.gguf")), File.ReadAllBytes(dir.File("cli.gguf")), "GGUF from the command vs the runtime");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen3-moe")]
    [InlineData("gpt-oss")]
    public void EveryDemoArchitecture_QuantizesToUqff_SplitAtTheLimit_AndLoadsBack(string architecture)
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir, architecture);
        string output = dir.File("uqff/model.uqff");
        CliRunner.Ok("quantize", checkpoint, "--to", "q8_0", "-o", output, "--max-file-size", "256K");
        var parts = UqffModelFormat.FindParts(output);
        Assert.True(parts.Count > 1, $"{parts.Count} parts");
        using var model = UqffModel.Open(output);
        Assert.Equal(parts.Count, model.Files.Count);
        foreach (var (_, part) in parts) Assert.True(new FileInfo(part).Length < 256 * 1024 + 8 * 1024 || SafetensorsFile.Open(part).Entries.Count == 1, part);
        for (int i = 0; i < model.Layers.Count; i++) Assert.NotNull(model.ReadLayer(i));
        Assert.Contains("residual.safetensors", Directory.GetFiles(dir.File("uqff")).Select(Path.GetFileName));
        Assert.Equal(File.ReadAllText(Path.Combine(checkpoint, "config.json")), model.ConfigJson);
        Assert.True(File.Exists(dir.File("uqff/tokenizer.json")));
        if (architecture == "gpt-oss")
        {
            Assert.Contains(model.Layers, l => l.Name == "model.layers.1.mlp.experts.gate_up_proj" && l.Expert is null && model.ReadLayer(l.Index) is { Name: "mxfp4-layer", Experts: 4 });
            CliRunner.Ok("dequantize", output, "-o", dir.File("d.safetensors"));
            using var dense = SafetensorsFile.Open(dir.File("d.safetensors"));
            Assert.Equal(new[] { 4, 512, 256 }, dense.Entry("model.layers.1.mlp.experts.gate_up_proj.weight").Shape);
            Assert.Equal(new[] { 4, 512 }, dense.Entry("model.layers.1.mlp.experts.gate_up_proj.bias").Shape);
        }
        if (architecture == "qwen3-moe") Assert.Contains(model.Layers, l => l.Name == "model.layers.1.mlp.experts.3.down_proj");
        // The same model also goes to GGUF.
        CliRunner.Ok("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("m.gguf"));
    }

    [Fact]
    public void RulesAndImportanceFiles_ChooseEachLayersFormat()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir);
        File.WriteAllText(dir.File("rules.txt"), "# down projections get more bits\nmlp\\.down_proj = q6_K\nlm_head = dense\n");
        var importance = new Dictionary<string, HostTensor> { ["model.layers.0.mlp.down_proj"] = HostTensor.FromArray(Raw.Gaussian(512, seed: 4).Select(Math.Abs).ToArray(), 512) };
        ImatrixFile.Save(dir.File("i.imatrix.safetensors"), importance);
        string output = dir.File("m.uqff");
        CliRunner.Ok("quantize", checkpoint, "--to", "q4_K", "--rules", dir.File("rules.txt"), "--imatrix", dir.File("i.imatrix.safetensors"), "-o", output);
        using var model = UqffModel.Open(output);
        Assert.Equal("q6_K", model.ReadLayer(model.IndexOf("model.layers.0.mlp.down_proj")).Format!.Name);
        Assert.Equal("q4_K", model.ReadLayer(model.IndexOf("model.layers.0.mlp.up_proj")).Format!.Name);
        Assert.Equal("unquant", model.ReadLayer(model.IndexOf("lm_head")).Name);

        using var weights = SafetensorsFile.Open(Path.Combine(checkpoint, "model.safetensors"));
        var down = weights.Get("model.layers.0.mlp.down_proj.weight").ToFloat32Array();
        var q6 = FormatKernels.For("q6_K");
        var expected = Quant.Uqff.UqffCodec.WriteLayer(q6.Quantize(down, 256, 512, -1, importance["model.layers.0.mlp.down_proj"].AsSpan<float>()));
        Raw.AssertSameBytes(expected, model.Blob(model.IndexOf("model.layers.0.mlp.down_proj")).ToArray(), "down_proj with importance");
    }

    [Theory]
    [InlineData("--to", "nope", "out.gguf", "unknown format 'nope'")]
    [InlineData("--to", "hqq4_g64", "out.gguf", "cannot be a GGUF tensor type")]
    [InlineData("--to", "nvfp4", "out.uqff", "has no UQFF layer type")]
    [InlineData("--to", "q4_0", "out.bin", "must end in .uqff")]
    [InlineData("--rule", "ggml", "out.gguf", "give --to FORMAT")]
    [InlineData("--to", "q4_0:nope", "out.gguf", "unknown format")]
    public void UsageErrors_AreExit2_BeforeAnyWork(string option, string value, string output, string message)
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir);
        var result = CliRunner.Run("quantize", checkpoint, option, value, "-o", dir.File(output));
        Assert.True(result.ExitCode == ExitCodes.Usage && result.ErrLines.Length == 1, result.ToString());
        Assert.Contains(message, result.Err);
        Assert.Equal(["ckpt-llama"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void OutputsThatWouldReplaceTheInput_AreRefused()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir);
        var config = File.ReadAllBytes(Path.Combine(checkpoint, "config.json"));
        var intoCheckpoint = CliRunner.Run("quantize", checkpoint, "--to", "q4_0", "-o", Path.Combine(checkpoint, "model.uqff"));
        Assert.Equal(ExitCodes.Usage, intoCheckpoint.ExitCode);
        Assert.Contains("belongs to the checkpoint", intoCheckpoint.Err);
        Assert.Equal(config, File.ReadAllBytes(Path.Combine(checkpoint, "config.json")));
        Assert.Equal(3, Directory.GetFiles(checkpoint).Length);

        CliRunner.Ok("quantize", checkpoint, "--to", "q8_0", "-o", dir.File("m.gguf"));
        var before = File.ReadAllBytes(dir.File("m.gguf"));
        var self = CliRunner.Run("quantize", dir.File("m.gguf"), "--to", "q4_0", "-o", dir.File("m.gguf"));
        Assert.Equal(ExitCodes.Usage, self.ExitCode);
        Assert.Equal(before, File.ReadAllBytes(dir.File("m.gguf")));
        var bad = CliRunner.Run("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("x.uqff"), "--max-file-size", "-3G");
        Assert.Equal(ExitCodes.Usage, bad.ExitCode);
    }

    [Fact]
    public void BadCheckpoints_AreExit3_AndLeaveNoOutput()
    {
        using var dir = new TempDir();
        var missing = CliRunner.Run("quantize", dir.File("nope"), "--to", "q4_0", "-o", dir.File("a.gguf"));
        Assert.Equal(ExitCodes.BadData, missing.ExitCode);

        string checkpoint = Checkpoint(dir);
        string model = Path.Combine(checkpoint, "model.safetensors");
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        var truncated = CliRunner.Run("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("a.gguf"));
        Assert.True(truncated.ExitCode == ExitCodes.BadData && truncated.ErrLines.Length == 1, truncated.ToString());
        Assert.Contains("runs past the end", truncated.Err);
        File.WriteAllBytes(model, bytes);

        string config = Path.Combine(checkpoint, "config.json");
        string text = File.ReadAllText(config);
        File.WriteAllText(config, text.Replace("\"torch_dtype\"", "\"quantization_config\": {\"quant_method\": \"gptq\"}, \"torch_dtype\"", StringComparison.Ordinal));
        var prequantized = CliRunner.Run("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("a.gguf"));
        Assert.Equal(ExitCodes.BadData, prequantized.ExitCode);
        Assert.Contains("already quantized (gptq)", prequantized.Err);
        File.WriteAllText(config, text.Replace("\"llama\"", "\"falcon\"", StringComparison.Ordinal));
        var unknown = CliRunner.Run("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("a.gguf"));
        Assert.Equal(ExitCodes.BadData, unknown.ExitCode);
        Assert.Contains("write UQFF instead", unknown.Err);
        CliRunner.Ok("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("a.uqff"));

        var rules = CliRunner.Run("quantize", checkpoint, "--rules", dir.File("none.txt"), "-o", dir.File("b.gguf"));
        Assert.Equal(ExitCodes.BadData, rules.ExitCode);
        Assert.False(File.Exists(dir.File("a.gguf")));
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => f.EndsWith(".partial", StringComparison.Ordinal));
    }

    [Fact]
    public void Inspect_ReadsSafetensorsFiles_AndWholeUqffModels()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir, "gpt-oss");
        var table = CliRunner.Ok("inspect", Path.Combine(checkpoint, "model.safetensors"));
        Assert.Contains("safetensors", table.Out);
        Assert.Contains(table.Out.Split('\n'), l => l.Contains("model.layers.1.mlp.experts.gate_up_proj_blocks", StringComparison.Ordinal) && l.Contains("[4, 512, 8, 16]", StringComparison.Ordinal) && l.Contains("U8", StringComparison.Ordinal));
        using (var doc = JsonDocument.Parse(CliRunner.Ok("inspect", "--json", Path.Combine(checkpoint, "model.safetensors")).Out))
        {
            Assert.Equal("safetensors", doc.RootElement.GetProperty("kind").GetString());
            Assert.Contains(doc.RootElement.GetProperty("metadata").EnumerateArray(), m => m.GetProperty("key").GetString() == "format" && m.GetProperty("value").GetString() == "pt");
        }

        CliRunner.Ok("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("u/model.uqff"), "--max-file-size", "200K");
        using var json = JsonDocument.Parse(CliRunner.Ok("inspect", "--json", dir.File("u/model.uqff")).Out);
        var root = json.RootElement;
        Assert.Equal("UQFF model", root.GetProperty("kind").GetString());
        Assert.True(root.GetProperty("properties").GetProperty("parts").GetArrayLength() > 1);
        var tensors = root.GetProperty("tensors").EnumerateArray().ToArray();
        var experts = tensors.Single(t => t.GetProperty("name").GetString()!.EndsWith(": model.layers.0.mlp.experts.gate_up_proj", StringComparison.Ordinal));
        Assert.Equal("mxfp4", experts.GetProperty("format").GetString());
        Assert.Equal("Mxfp4 + bias", experts.GetProperty("type").GetString());
        Assert.Equal(new long[] { 4, 512, 256 }, experts.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Contains(tensors, t => t.GetProperty("name").GetString() == "residual: model.embed_tokens.weight" && t.GetProperty("type").GetString() == "BF16");
        Assert.Contains(root.GetProperty("metadata").EnumerateArray(), m => m.GetProperty("key").GetString() == "config.model_type");
        var text = CliRunner.Ok("inspect", dir.File("u/model-1.uqff"));
        Assert.Contains("UQFF model", text.Out);
    }

    [Fact]
    public void Dequantize_GivesTheLayersWeights_FromUqffModelsGgufFilesAndLayerBlobs()
    {
        using var dir = new TempDir();
        string checkpoint = Checkpoint(dir, "qwen3-moe");
        CliRunner.Ok("quantize", checkpoint, "--to", "q8_0", "-o", dir.File("u/model.uqff"));
        CliRunner.Ok("dequantize", dir.File("u/model.uqff"), "-o", dir.File("d.safetensors"));
        using (var model = UqffModel.Open(dir.File("u/model.uqff")))
        using (var file = SafetensorsFile.Open(dir.File("d.safetensors")))
        {
            for (int i = 0; i < model.Layers.Count; i++)
            {
                var expected = model.ReadLayer(i).DequantizeWeight().ToFloat32Array();
                Raw.AssertSameFloats(expected, file.Get(model.Layers[i].Name + ".weight").ToFloat32Array(), model.Layers[i].DisplayName);
            }
            Assert.Equal(DType.F32, file.Entry("model.norm.weight").DType);
            Assert.Equal(model.Residual.Get("model.norm.weight").ToFloat32Array(), file.Get("model.norm.weight").ToFloat32Array());
        }
        CliRunner.Ok("dequantize", dir.File("u/model-0.uqff"), "-o", dir.File("b.safetensors"), "--dtype", "bf16");
        using (var file = SafetensorsFile.Open(dir.File("b.safetensors"))) Assert.Equal(DType.BF16, file.Entry("lm_head.weight").DType);

        CliRunner.Ok("quantize", checkpoint, "--to", "q4_0", "-o", dir.File("m.gguf"));
        CliRunner.Ok("dequantize", dir.File("m.gguf"), "-o", dir.File("g.safetensors"), "--dtype", "f16");
        using (var gguf = GgufFile.Open(dir.File("m.gguf")))
        using (var file = SafetensorsFile.Open(dir.File("g.safetensors")))
        {
            var experts = gguf.GetTensor("blk.0.ffn_up_exps.weight");
            var entry = file.Entry("blk.0.ffn_up_exps.weight");
            Assert.Equal(new[] { 4, 256, 256 }, entry.Shape);
            Assert.Equal(HostTensor.FromArray(gguf.ReadSingle(experts), entry.Shape).ToDType(DType.F16).Bytes.ToArray(), file.Get(entry.Name).Bytes.ToArray());
        }

        Raw.WriteFloats(dir.File("w.f32"), Raw.Gaussian(4 * 64, seed: 2));
        Raw.WriteFloats(dir.File("b.f32"), Raw.Gaussian(4, seed: 3));
        CliRunner.Ok("raw", "uqff", "--format", "q4_0", "--cols", "64", "--bias", dir.File("b.f32"), dir.File("w.f32"), dir.File("layer.uqff"));
        CliRunner.Ok("dequantize", dir.File("layer.uqff"), "-o", dir.File("l.safetensors"));
        using (var file = SafetensorsFile.Open(dir.File("l.safetensors")))
        {
            Assert.Equal(new[] { 4, 64 }, file.Entry("weight").Shape);
            Assert.Equal(Raw.ReadFloats(dir.File("b.f32")), file.Get("bias").ToFloat32Array());
        }
        var self = CliRunner.Run("dequantize", dir.File("layer.uqff"), "-o", dir.File("layer.uqff"));
        Assert.Equal(ExitCodes.Usage, self.ExitCode);
    }
}
