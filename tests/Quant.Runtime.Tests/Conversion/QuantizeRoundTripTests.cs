using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Conversion;
using Quant.Runtime.Gguf;
using Quant.Runtime.Isq;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Quant.Runtime.Uqff;
using Quant.Uqff;

namespace Quant.Runtime.Tests.Conversion;

/// <summary>
/// checkpoint -> UQFF -> layers and checkpoint -> GGUF -> tensors: every quantized byte equals what quantizing that tensor by
/// hand gives (the format's kernels on the checkpoint's values, llama's q / k rows reordered by <see cref="LlamaGguf.PermuteRotaryRows"/>),
/// every kept tensor comes back as it was, for each architecture's real tensor names.
/// </summary>
public sealed class QuantizeRoundTripTests : IDisposable
{
    private readonly TestTensors.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static QuantizeReport Quantize(string input, string output, CheckpointQuantizerOptions options)
    {
        options.Validate(CheckpointQuantizerOptions.OutputOf(output));
        using var source = CheckpointSource.Open(input);
        var plan = QuantizePlan.Create(source, output, options);
        return CheckpointQuantizer.Run(plan, options);
    }

    // The free-space check compares the plan's estimate with the disk: it must not fall short of what is written.
    private static void AssertEstimateBoundsTheOutput(QuantizeReport report)
    {
        long estimate = report.Plan.EstimatedOutputBytes, written = report.OutputBytes;
        Assert.True(written <= estimate && estimate - written < 256 * 1024, $"estimated {estimate} bytes, wrote {written}");
    }

    private static byte[] ByHand(string format, float[] weights, int rows, int columns, float[]? bias = null, float[]? importance = null, string? rule = null)
    {
        var kernels = FormatKernels.For(format);
        var matrix = kernels.Quantize(weights, rows, columns, kernels.Info.FindRule(rule), importance);
        return bias is null ? matrix.Plane(0).ToArray() : UqffCodec.WriteLayer(matrix, bias);
    }

    [Theory]
    [InlineData("llama", "q4_0", 1)]
    [InlineData("qwen2", "q8_0", 3)]
    [InlineData("qwen3", "hqq4_g64", 1)]
    [InlineData("qwen3_moe", "q4_K", 2)]
    [InlineData("mixtral", "mxfp4", 1)]
    [InlineData("gpt_oss", "q8_0", 1)]
    public void Uqff_EveryLayerIsTheQuantizedTensor_AndEveryOtherTensorIsKept(string modelType, string format, int shards)
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 256, Ffn: 256, Vocab: 300);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), modelType, sizes, seed: 41, shards: shards);
        string output = _dir.File("out/model.uqff");
        var report = Quantize(checkpoint.Directory, output, new CheckpointQuantizerOptions { Format = format, Threads = 2, MaxFileBytes = 200_000 });
        AssertEstimateBoundsTheOutput(report);

        using var model = UqffModel.Open(output);
        Assert.True(model.Files.Count > 1, "the small limit splits the model");
        var linearNames = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            string name = layer.Name!;
            linearNames.Add(name);
            byte[] expected;
            if (checkpoint.Tensors.ContainsKey(name + "_blocks"))
            {
                // GPT-OSS experts stay MXFP4, all of them in one layer as mistral.rs writes them: the checkpoint's own codes
                // and scales, [E, N, K/2] and [E, N, K/32], and the bias [E, N].
                Assert.Null(layer.Expert);
                var blocks = checkpoint.Tensors[name + "_blocks"];
                int experts = blocks.Dim(0), rows = blocks.Dim(1), k = blocks.Dim(2) * 32;
                var matrix = new QuantMatrix(FormatKernels.For("mxfp4").Info, experts * rows, k,
                    [blocks.Bytes.ToArray(), checkpoint.Tensors[name + "_scales"].Bytes.ToArray()], experts);
                expected = UqffCodec.WriteLayer(matrix, checkpoint.Tensors[name + "_bias"].ToFloat32Array());
                Assert.Equal(experts, model.ReadLayer(i).Experts);
            }
            else
            {
                var weight = checkpoint.Tensors[name + ".weight"];
                var bias = checkpoint.Tensors.TryGetValue(name + ".bias", out var b) ? b.ToFloat32Array() : null;
                // An empty bias writes a blob without one.
                expected = ByHand(format, weight.ToFloat32Array(), weight.Dim(0), weight.Dim(1), bias ?? [], null);
            }
            Assert.True(expected.AsSpan().SequenceEqual(model.Blob(i)), $"{modelType}: layer {i} ({layer.DisplayName}) differs from quantizing it by hand");
            model.ReadLayer(i);
        }
        // Everything that is not a linear layer is in residual.safetensors, bit for bit.
        var residual = model.Residual.Entries.ToDictionary(e => e.Name);
        foreach (var (name, tensor) in checkpoint.Tensors)
        {
            bool linear = linearNames.Contains(name.EndsWith(".weight", StringComparison.Ordinal) ? name[..^7] : name.EndsWith(".bias", StringComparison.Ordinal) ? name[..^5] : name)
                || linearNames.Any(l => name.StartsWith(l + "_", StringComparison.Ordinal));
            if (linear)
            {
                Assert.False(residual.ContainsKey(name), name);
                continue;
            }
            Assert.True(residual.ContainsKey(name), $"{name} is neither a layer nor residual");
            Assert.True(tensor.Bytes.SequenceEqual(model.Residual.Get(name).Bytes), name);
        }
        Assert.NotNull(model.ConfigJson);
        Assert.DoesNotContain(model.Layers, l => l.Name!.Contains("norm", StringComparison.Ordinal) || l.Name.Contains("embed", StringComparison.Ordinal) || l.Name.EndsWith(".gate", StringComparison.Ordinal) || l.Name.EndsWith("router", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("llama", "q4_K")]
    [InlineData("mistral", "q8_0")]
    [InlineData("qwen2", "q4_0")]
    [InlineData("qwen3", "q6_K")]
    [InlineData("qwen3_moe", "q8_0")]
    [InlineData("mixtral", "q4_K")]
    [InlineData("gpt_oss", "q4_0")]
    public void Gguf_EveryTensorIsTheQuantizedOrKeptCheckpointTensor(string modelType, string format)
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 256, Ffn: 256, Vocab: 300, Experts: 3);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), modelType, sizes, seed: 43);
        string output = _dir.File("model.gguf");
        var report = Quantize(checkpoint.Directory, output, new CheckpointQuantizerOptions { Format = format, Threads = 2 });
        AssertEstimateBoundsTheOutput(report);

        using var file = GgufFile.Open(output);
        string arch = modelType switch { "mistral" or "mixtral" => "llama", "qwen3_moe" => "qwen3moe", "gpt_oss" => "gpt-oss", _ => modelType };
        Assert.Equal(arch, file.Metadata.GetString("general.architecture"));
        Assert.Equal((uint)sizes.Layers, file.Metadata.GetUInt32($"{arch}.block_count"));
        bool permute = arch == "llama";
        int headDim = sizes.Hidden / sizes.Heads;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in file.Tensors)
        {
            var (expected, type) = Expected(checkpoint, t.Name, format, permute, sizes, headDim);
            Assert.True(type == t.Type.Name, $"{t.Name}: {t.Type.Name}, expected {type}");
            Assert.True(expected.AsSpan().SequenceEqual(file.GetData(t)), $"{modelType}: GGUF tensor {t.Name} differs from the checkpoint tensor quantized by hand");
            seen.Add(t.Name);
        }
        Assert.Contains("token_embd.weight", seen);
        Assert.Contains("blk.1.attn_q.weight", seen);
        Assert.Equal(modelType is "qwen3_moe" or "mixtral" or "gpt_oss", seen.Contains("blk.0.ffn_gate_exps.weight"));
    }

    // What the GGUF tensor must hold, built from the checkpoint by hand, and its type's name.
    private static (byte[] Bytes, string Type) Expected(TestCheckpoint c, string gguf, string format, bool permute, TestCheckpoints.Sizes s, int headDim)
    {
        static byte[] F32(float[] v) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray();
        switch (gguf)
        {
            // llama.cpp's convention: the token embedding is quantized with the layers.
            case "token_embd.weight": return (ByHand(format, c.Floats("model.embed_tokens.weight"), s.Vocab, s.Hidden), format);
            case "output_norm.weight": return (F32(c.Floats("model.norm.weight")), "f32");
            case "output.weight": return (ByHand(format, c.Floats("lm_head.weight"), s.Vocab, s.Hidden), format);
        }
        var parts = gguf.Split('.');
        int layer = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        string p = $"model.layers.{layer}.", local = parts[2], kind = parts[3];
        string modelType = (string)c.Config["model_type"]!;
        string? Hf(string l) => l switch
        {
            "attn_norm" => "input_layernorm",
            "ffn_norm" or "post_attention_norm" => "post_attention_layernorm",
            "attn_q" => "self_attn.q_proj",
            "attn_k" => "self_attn.k_proj",
            "attn_v" => "self_attn.v_proj",
            "attn_output" => "self_attn.o_proj",
            "attn_q_norm" => "self_attn.q_norm",
            "attn_k_norm" => "self_attn.k_norm",
            "attn_sinks" => "self_attn.sinks",
            "ffn_gate" => "mlp.gate_proj",
            "ffn_up" => "mlp.up_proj",
            "ffn_down" => "mlp.down_proj",
            "ffn_gate_inp" => modelType == "mixtral" ? "block_sparse_moe.gate" : modelType == "gpt_oss" ? "mlp.router" : "mlp.gate",
            _ => null,
        };
        if (local.EndsWith("_exps", StringComparison.Ordinal))
        {
            string role = local[4..^5];
            if (modelType == "gpt_oss")
            {
                string stem = p + (role == "down" ? "mlp.experts.down_proj" : "mlp.experts.gate_up_proj");
                int offset = role == "up" ? 1 : 0;
                bool split = role != "down";
                if (kind == "bias")
                {
                    var bias = c.Tensors[stem + "_bias"];
                    var values = bias.ToFloat32Array();
                    return (F32(split ? values.Where((_, i) => i % 2 == offset).ToArray() : values), "f32");
                }
                // Experts stay MXFP4: ggml's records hold the checkpoint's values exactly (compared dequantized).
                var all = new List<byte>();
                for (int e = 0; e < s.Experts; e++)
                {
                    var values = TestCheckpoints.Mxfp4Expert(c, stem, e);
                    int k = role == "down" ? s.Ffn : s.Hidden, rows = values.Length / k;
                    var rowsTaken = Enumerable.Range(0, rows).Where(r => !split || r % 2 == offset).SelectMany(r => values.Skip(r * k).Take(k)).ToArray();
                    // Requantizing exact MXFP4 values with ggml's rule reproduces the codes and scales.
                    all.AddRange(ByHand("mxfp4_ggml", rowsTaken, rowsTaken.Length / k, k));
                }
                return (all.ToArray(), "mxfp4_ggml");
            }
            string hfRole = modelType == "mixtral" ? role switch { "gate" => "w1", "down" => "w2", _ => "w3" } : role + "_proj";
            string expertsPath = modelType == "mixtral" ? "block_sparse_moe.experts" : "mlp.experts";
            var bytes = new List<byte>();
            for (int e = 0; e < s.Experts; e++)
            {
                var w = c.Tensors[$"{p}{expertsPath}.{e}.{hfRole}.weight"];
                bytes.AddRange(ByHand(format, w.ToFloat32Array(), w.Dim(0), w.Dim(1)));
            }
            return (bytes.ToArray(), format);
        }
        string hf = p + (Hf(local) ?? throw new InvalidOperationException(gguf)) + (local == "attn_sinks" ? "" : "." + kind);
        var tensor = c.Tensors[hf];
        var floats = tensor.ToFloat32Array();
        int heads = local == "attn_q" ? s.Heads : local == "attn_k" ? s.KvHeads : 0;
        if (permute && heads > 0)
        {
            var permuted = new float[floats.Length];
            LlamaGguf.PermuteRotaryRows(floats, permuted, heads, tensor.Rank == 2 ? tensor.Dim(1) : 1);
            floats = permuted;
        }
        if (tensor.Rank == 1 || local is "ffn_gate_inp") return (F32(floats), "f32");
        return (ByHand(format, floats, tensor.Dim(0), tensor.Dim(1)), format);
    }

    [Fact]
    public void GptOssMxfp4Experts_Requantized_AreTheirDequantizedValuesQuantized()
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 64, Ffn: 64, Experts: 2, Layers: 1, Vocab: 300);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), "gpt_oss", sizes, seed: 73);
        var options = new CheckpointQuantizerOptions { Format = "q8_0", RequantizeMxfp4 = true };
        Quantize(checkpoint.Directory, _dir.File("r.gguf"), options);
        Quantize(checkpoint.Directory, _dir.File("r.uqff"), options);
        string stem = "model.layers.0.mlp.experts.gate_up_proj";
        using var file = GgufFile.Open(_dir.File("r.gguf"));
        var up = file.GetTensor("blk.0.ffn_up_exps.weight");
        Assert.Equal("q8_0", up.Type.Name);
        var expected = new List<byte>();
        for (int e = 0; e < 2; e++)
        {
            var values = TestCheckpoints.Mxfp4Expert(checkpoint, stem, e);
            var odd = Enumerable.Range(0, 128).Where(r => r % 2 == 1).SelectMany(r => values.Skip(r * 64).Take(64)).ToArray();
            expected.AddRange(ByHand("q8_0", odd, 64, 64));
        }
        Assert.Equal(expected.ToArray(), file.GetData(up).ToArray());
        using var model = UqffModel.Open(_dir.File("r.uqff"));
        var bias = checkpoint.Tensors[stem + "_bias"].ToFloat32Array().AsSpan(128, 128).ToArray();
        Assert.Equal(ByHand("q8_0", TestCheckpoints.Mxfp4Expert(checkpoint, stem, 1), 128, 64, bias), model.Blob(model.IndexOf(stem, 1)).ToArray());
    }

    [Fact]
    public void Rules_KeepLayersDense_AndGiveOthersTheirFormat_WithImportance()
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 256, Ffn: 256, DType: DType.F16);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), "llama", sizes, seed: 47);
        var rules = IsqRules.ParseText("mlp\\.down_proj = q6_K\nlm_head = dense\nself_attn\\.k_proj = q4_K:mse\n* = q4_K");
        var rng = new SplitMix64(3);
        var importance = new Dictionary<string, HostTensor>
        {
            ["model.layers.1.mlp.down_proj"] = HostTensor.FromArray(Enumerable.Range(0, 256).Select(_ => (float)rng.NextDouble()).ToArray(), 256),
        };
        string output = _dir.File("m.uqff");
        Quantize(checkpoint.Directory, output, new CheckpointQuantizerOptions { Rules = rules, Imatrix = importance, Threads = 1 });
        using var model = UqffModel.Open(output);
        byte[] Blob(string name) => model.Blob(model.IndexOf(name)).ToArray();

        var head = checkpoint.Tensors["lm_head.weight"];
        Assert.Equal(UqffCodec.WriteUnquant(head.ToFloat32Array(), head.Dim(0), head.Dim(1), UqffDType.F16, default, UqffDType.F32), Blob("lm_head"));
        var down = checkpoint.Tensors["model.layers.1.mlp.down_proj.weight"];
        var q6 = FormatKernels.For("q6_K");
        Assert.Equal(UqffCodec.WriteLayer(q6.Quantize(down.ToFloat32Array(), 256, 256, -1, importance["model.layers.1.mlp.down_proj"].AsSpan<float>())), Blob("model.layers.1.mlp.down_proj"));
        Assert.NotEqual(UqffCodec.WriteLayer(q6.Quantize(down.ToFloat32Array(), 256, 256)), Blob("model.layers.1.mlp.down_proj"));
        var k = checkpoint.Tensors["model.layers.0.self_attn.k_proj.weight"];
        var q4 = FormatKernels.For("q4_K");
        Assert.Equal(UqffCodec.WriteLayer(q4.Quantize(k.ToFloat32Array(), k.Dim(0), 256, q4.Info.FindRule("mse"))), Blob("model.layers.0.self_attn.k_proj"));
        var q = checkpoint.Tensors["model.layers.0.self_attn.q_proj.weight"];
        Assert.Equal(UqffCodec.WriteLayer(q4.Quantize(q.ToFloat32Array(), 256, 256)), Blob("model.layers.0.self_attn.q_proj"));
    }

    [Fact]
    public void ColumnsThatDoNotFitTheBlocks_FallBack_AsLlamaQuantizeDoes_ThenToDense()
    {
        var options = new CheckpointQuantizerOptions { Format = "q4_K" };
        // Hidden 96: q4_K's rows of 256 do not fit, q5_0's blocks of 32 do.
        var legacy = TestCheckpoints.Write(_dir.File("h96"), "llama", new TestCheckpoints.Sizes(Hidden: 96, Ffn: 256, Heads: 2, KvHeads: 1), seed: 53);
        using (var source = CheckpointSource.Open(legacy.Directory))
        {
            var uqff = QuantizePlan.Create(source, _dir.File("a.uqff"), options);
            Assert.Contains(uqff.Units, u => u.Source.Name.EndsWith("q_proj", StringComparison.Ordinal) && u.Format == "q5_0" && u.Note is not null);
            Assert.Contains(uqff.Units, u => u.Source.Name.EndsWith("down_proj", StringComparison.Ordinal) && u.Format == "q4_K");
            Assert.Contains(uqff.Notes, n => n.Contains("q5_0", StringComparison.Ordinal));
            var gguf = QuantizePlan.Create(source, _dir.File("a.gguf"), options);
            CheckpointQuantizer.Run(gguf, options);
            using var file = GgufFile.Open(_dir.File("a.gguf"));
            Assert.Equal("q5_0", file.GetTensor("blk.0.attn_q.weight").Type.Name);
            Assert.Equal("q4_K", file.GetTensor("blk.0.ffn_down.weight").Type.Name);
        }
        // Hidden 80: no block format of 32 fits either; UQFF keeps the layer dense, GGUF writes F16.
        var odd = TestCheckpoints.Write(_dir.File("h80"), "llama", new TestCheckpoints.Sizes(Hidden: 80, Ffn: 256, Heads: 2, KvHeads: 1), seed: 54);
        using (var source = CheckpointSource.Open(odd.Directory))
        {
            var uqff = QuantizePlan.Create(source, _dir.File("b.uqff"), options);
            Assert.Contains(uqff.Units, u => u.Source.Name.EndsWith("q_proj", StringComparison.Ordinal) && u.Treatment == UnitTreatment.Keep && u.TypeName == "bf16");
            var gguf = QuantizePlan.Create(source, _dir.File("b.gguf"), options);
            Assert.Contains(gguf.Units, u => u.Source.Name.EndsWith("q_proj", StringComparison.Ordinal) && u.TypeName == "f16");
            CheckpointQuantizer.Run(uqff, options);
            using var model = UqffModel.Open(_dir.File("b.uqff"));
            Assert.Equal("unquant", model.ReadLayer(model.IndexOf("model.layers.0.self_attn.q_proj")).Name);
        }
    }

    [Fact]
    public void IsqPendingCounter_NeverExceedsWorkersPlusOne_On64Layers()
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 64, Ffn: 64, Layers: 64, Vocab: 40, DType: DType.F32);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), "llama", sizes, seed: 59);
        foreach (int workers in new[] { 1, 2, 3 })
        {
            var options = new CheckpointQuantizerOptions { Format = "q4_0", Threads = workers };
            using var source = CheckpointSource.Open(checkpoint.Directory);
            var plan = QuantizePlan.Create(source, _dir.File($"w{workers}.uqff"), options);
            Assert.Equal(64 * 7 + 1, plan.Units.Count);
            IsqScheduler? pool = null;
            var report = CheckpointQuantizer.Run(plan, options, scheduled: s => pool = s);
            Assert.Equal(workers, pool!.Workers);
            Assert.True(pool.Completed == plan.Units.Count, $"{pool.Completed} layers quantized of {plan.Units.Count}");
            Assert.InRange(report.PeakPending, 1, workers + 1);
            Assert.Equal(pool.PeakPending, report.PeakPending);
        }
    }

    [Fact]
    public void Cancellation_LeavesNoOutputFile_AndNoTemporaryFile()
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 64, Ffn: 128, Layers: 8, Vocab: 300);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), "llama", sizes, seed: 61);
        foreach (string name in new[] { "m.uqff", "m.gguf" })
        {
            string folder = _dir.File("out-" + Path.GetExtension(name)[1..]);
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "keep.txt"), "an unrelated file");
            using var cancel = new CancellationTokenSource();
            var options = new CheckpointQuantizerOptions { Format = "q8_0", Threads = 2, MaxFileBytes = 20_000 };
            using var source = CheckpointSource.Open(checkpoint.Directory);
            var plan = QuantizePlan.Create(source, Path.Combine(folder, name), options);
            Assert.ThrowsAny<OperationCanceledException>(() => CheckpointQuantizer.Run(plan, options, p =>
            {
                if (p.UnitsDone >= 20) cancel.Cancel();
            }, cancel.Token));
            Assert.Equal(["keep.txt"], Directory.GetFiles(folder).Select(Path.GetFileName));
        }
    }

    [Fact]
    public void GgufInput_Requantizes_AndKeepsItsMetadataAndNames()
    {
        var sizes = new TestCheckpoints.Sizes(Hidden: 256, Ffn: 256, Vocab: 300);
        var checkpoint = TestCheckpoints.Write(_dir.File("ckpt"), "qwen3", sizes, seed: 67);
        string first = _dir.File("q8.gguf"), second = _dir.File("q4.gguf"), uqff = _dir.File("from-gguf.uqff");
        Quantize(checkpoint.Directory, first, new CheckpointQuantizerOptions { Format = "q8_0" });
        Quantize(first, second, new CheckpointQuantizerOptions { Format = "q4_0" });
        Quantize(first, uqff, new CheckpointQuantizerOptions { Format = "q4_0" });
        using var a = GgufFile.Open(first);
        using var b = GgufFile.Open(second);
        Assert.Equal(a.Tensors.Select(t => t.Name), b.Tensors.Select(t => t.Name));
        Assert.Equal(a.Metadata.GetUInt32("qwen3.block_count"), b.Metadata.GetUInt32("qwen3.block_count"));
        Assert.Equal(a.Metadata.GetArray("tokenizer.ggml.tokens").Count, b.Metadata.GetArray("tokenizer.ggml.tokens").Count);
        var q = b.GetTensor("blk.0.attn_q.weight");
        Assert.Equal("q4_0", q.Type.Name);
        Assert.Equal(ByHand("q4_0", a.ReadSingle(a.GetTensor("blk.0.attn_q.weight")), 256, 256), b.GetData(q).ToArray());
        Assert.Equal(a.GetData(a.GetTensor("blk.0.attn_norm.weight")).ToArray(), b.GetData(b.GetTensor("blk.0.attn_norm.weight")).ToArray());
        using var model = UqffModel.Open(uqff);
        int index = model.IndexOf("blk.0.attn_q");
        Assert.Equal(UqffCodec.WriteLayer(FormatKernels.For("q4_0").Quantize(a.ReadSingle(a.GetTensor("blk.0.attn_q.weight")), 256, 256)), model.Blob(index).ToArray());
    }
}
