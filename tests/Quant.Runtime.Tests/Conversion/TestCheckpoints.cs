using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;

namespace Quant.Runtime.Tests.Conversion;

/// <summary>A checkpoint a test wrote: its folder, its tensors (as written) and its config.json.</summary>
internal sealed record TestCheckpoint(string Directory, Dictionary<string, HostTensor> Tensors, JsonObject Config)
{
    /// <summary>A tensor's values as float32.</summary>
    public float[] Floats(string name) => Tensors[name].ToFloat32Array();
}

/// <summary>
/// Scaled-down checkpoints with the real Hugging Face tensor names and shapes of each architecture, written by the tests
/// themselves (names listed here, not taken from the code under test): Llama / Mistral, Qwen2 (q/k/v biases), Qwen3
/// (q/k norms), Qwen3-MoE (per-expert <c>mlp.experts.N.*_proj</c>), Mixtral (<c>block_sparse_moe.experts.N.w1/w2/w3</c>) and
/// GPT-OSS (MXFP4 <c>gate_up_proj_blocks/_scales/_bias</c>, <c>down_proj_*</c>, attention biases, sinks, router).
/// </summary>
internal static class TestCheckpoints
{
    public sealed record Sizes(int Hidden = 64, int Ffn = 128, int Layers = 2, int Heads = 4, int KvHeads = 2, int Vocab = 300, int Experts = 4, DType DType = DType.BF16);

    public static TestCheckpoint Write(string directory, string modelType, Sizes s, ulong seed, int shards = 1, bool tied = false)
    {
        var rng = new SplitMix64(seed);
        var t = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        int h = s.Hidden, headDim = h / s.Heads, q = s.Heads * headDim, kv = s.KvHeads * headDim;
        void Matrix(string name, int rows, int columns) => t[name] = HostTensor.FromArray(TestTensors.Gaussian(rng, (long)rows * columns, 1 / Math.Sqrt(columns)), rows, columns).ToDType(s.DType);
        void Vector(string name, params int[] shape) => t[name] = HostTensor.FromArray(TestTensors.Gaussian(rng, HostTensor.ElementCountOf(shape), 0.1), shape).ToDType(s.DType);
        void Gain(string name, int length)
        {
            var values = TestTensors.Gaussian(rng, length, 0.1);
            for (int i = 0; i < length; i++) values[i] += 1;
            t[name] = HostTensor.FromArray(values, length).ToDType(s.DType);
        }

        Matrix("model.embed_tokens.weight", s.Vocab, h);
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            Gain(p + "input_layernorm.weight", h);
            Matrix(p + "self_attn.q_proj.weight", q, h);
            Matrix(p + "self_attn.k_proj.weight", kv, h);
            Matrix(p + "self_attn.v_proj.weight", kv, h);
            Matrix(p + "self_attn.o_proj.weight", h, q);
            Gain(p + "post_attention_layernorm.weight", h);
            if (modelType is "qwen2" or "gpt_oss")
            {
                Vector(p + "self_attn.q_proj.bias", q);
                Vector(p + "self_attn.k_proj.bias", kv);
                Vector(p + "self_attn.v_proj.bias", kv);
            }
            if (modelType is "qwen3" or "qwen3_moe")
            {
                Gain(p + "self_attn.q_norm.weight", headDim);
                Gain(p + "self_attn.k_norm.weight", headDim);
            }
            switch (modelType)
            {
                case "llama" or "mistral" or "qwen2" or "qwen3":
                    Matrix(p + "mlp.gate_proj.weight", s.Ffn, h);
                    Matrix(p + "mlp.up_proj.weight", s.Ffn, h);
                    Matrix(p + "mlp.down_proj.weight", h, s.Ffn);
                    break;
                case "qwen3_moe":
                    Matrix(p + "mlp.gate.weight", s.Experts, h);
                    for (int e = 0; e < s.Experts; e++)
                    {
                        Matrix($"{p}mlp.experts.{e}.gate_proj.weight", s.Ffn, h);
                        Matrix($"{p}mlp.experts.{e}.up_proj.weight", s.Ffn, h);
                        Matrix($"{p}mlp.experts.{e}.down_proj.weight", h, s.Ffn);
                    }
                    break;
                case "mixtral":
                    Matrix(p + "block_sparse_moe.gate.weight", s.Experts, h);
                    for (int e = 0; e < s.Experts; e++)
                    {
                        Matrix($"{p}block_sparse_moe.experts.{e}.w1.weight", s.Ffn, h);
                        Matrix($"{p}block_sparse_moe.experts.{e}.w2.weight", h, s.Ffn);
                        Matrix($"{p}block_sparse_moe.experts.{e}.w3.weight", s.Ffn, h);
                    }
                    break;
                case "gpt_oss":
                    Vector(p + "self_attn.o_proj.bias", h);
                    Vector(p + "self_attn.sinks", s.Heads);
                    Matrix(p + "mlp.router.weight", s.Experts, h);
                    Vector(p + "mlp.router.bias", s.Experts);
                    Mxfp4(t, rng, p + "mlp.experts.gate_up_proj", s.Experts, 2 * s.Ffn, h);
                    Vector(p + "mlp.experts.gate_up_proj_bias", s.Experts, 2 * s.Ffn);
                    Mxfp4(t, rng, p + "mlp.experts.down_proj", s.Experts, h, s.Ffn);
                    Vector(p + "mlp.experts.down_proj_bias", s.Experts, h);
                    break;
                default:
                    throw new ArgumentException(modelType);
            }
        }
        Gain("model.norm.weight", h);
        if (!tied) Matrix("lm_head.weight", s.Vocab, h);

        var config = new JsonObject
        {
            ["model_type"] = modelType,
            ["hidden_size"] = h,
            ["intermediate_size"] = s.Ffn,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["head_dim"] = headDim,
            ["max_position_embeddings"] = 64,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["vocab_size"] = s.Vocab,
            ["tie_word_embeddings"] = tied,
        };
        if (modelType == "qwen3_moe")
        {
            config["num_experts"] = s.Experts;
            config["num_experts_per_tok"] = 2;
            config["moe_intermediate_size"] = s.Ffn;
        }
        if (modelType == "mixtral")
        {
            config["num_local_experts"] = s.Experts;
            config["num_experts_per_tok"] = 2;
        }
        if (modelType == "gpt_oss")
        {
            config["num_local_experts"] = s.Experts;
            config["experts_per_token"] = 2;
            config["sliding_window"] = 128;
            config["quantization_config"] = new JsonObject { ["quant_method"] = "mxfp4" };
        }
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString());
        WriteShards(directory, t, shards);
        return new TestCheckpoint(directory, t, config);
    }

    /// <summary>
    /// A byte-level BPE <c>tokenizer.json</c> (GPT-2's byte-to-character mapping) of <paramref name="vocab"/> ids: the 256
    /// bytes, two merges, BOS and EOS as the last two ids, the ids between left out (the converter pads them).
    /// </summary>
    public static void WriteTokenizer(string directory, int vocab)
    {
        var vocabulary = new JsonObject();
        int next = 256;
        string[] chars = new string[256];
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            chars[b] = ((char)(printable ? b : next++)).ToString();
            vocabulary[chars[b]] = b;
        }
        vocabulary["he"] = 256;
        vocabulary[chars[' '] + "t"] = 257;
        var tokenizer = new JsonObject
        {
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = vocab - 2, ["content"] = "<s>", ["special"] = true },
                new JsonObject { ["id"] = vocab - 1, ["content"] = "</s>", ["special"] = true }),
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocabulary, ["merges"] = new JsonArray("h e", new JsonArray(chars[' '], "t")) },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), tokenizer.ToJsonString());
    }

    /// <summary>Writes <paramref name="tensors"/> as one <c>model.safetensors</c>, or as shards with <c>model.safetensors.index.json</c>.</summary>
    public static void WriteShards(string directory, Dictionary<string, HostTensor> tensors, int shards)
    {
        if (shards <= 1)
        {
            SafetensorsWriter.WriteFile(Path.Combine(directory, "model.safetensors"), tensors);
            return;
        }
        var names = tensors.Keys.ToArray();
        var map = new JsonObject();
        for (int s = 0; s < shards; s++)
        {
            string file = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            var part = names.Where((_, i) => i % shards == s).ToArray();
            SafetensorsWriter.WriteFile(Path.Combine(directory, file), part.Select(n => new KeyValuePair<string, HostTensor>(n, tensors[n])));
            foreach (var n in part) map[n] = file;
        }
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
    }

    // GPT-OSS experts in its checkpoint layout, made by quantizing gaussian weights with the mxfp4 format.
    private static void Mxfp4(Dictionary<string, HostTensor> t, SplitMix64 rng, string stem, int experts, int rows, int columns)
    {
        var kernels = FormatKernels.For("mxfp4");
        var blocks = new byte[(long)experts * rows * columns / 2];
        var scales = new byte[(long)experts * rows * columns / 32];
        for (int e = 0; e < experts; e++)
        {
            var m = kernels.Quantize(TestTensors.Gaussian(rng, (long)rows * columns, 1 / Math.Sqrt(columns)), rows, columns);
            m.Plane(0).Span.CopyTo(blocks.AsSpan(e * rows * columns / 2));
            m.Plane(1).Span.CopyTo(scales.AsSpan(e * rows * columns / 32));
        }
        t[stem + "_blocks"] = HostTensor.FromOwnedBytes(DType.U8, [experts, rows, columns / 32, 16], blocks);
        t[stem + "_scales"] = HostTensor.FromOwnedBytes(DType.U8, [experts, rows, columns / 32], scales);
    }

    /// <summary>Expert <paramref name="e"/> of a GPT-OSS MXFP4 tensor, dequantized by the mxfp4 format: <c>[N, K]</c>.</summary>
    public static float[] Mxfp4Expert(TestCheckpoint checkpoint, string stem, int e)
    {
        var blocks = checkpoint.Tensors[stem + "_blocks"];
        var scales = checkpoint.Tensors[stem + "_scales"];
        int rows = blocks.Dim(1), columns = blocks.Dim(2) * 32;
        var b = blocks.Bytes.Slice(e * rows * columns / 2, rows * columns / 2).ToArray();
        var s = scales.Bytes.Slice(e * rows * columns / 32, rows * columns / 32).ToArray();
        var kernels = FormatKernels.For("mxfp4");
        var values = new float[rows * columns];
        kernels.Dequantize(new QuantMatrix(kernels.Info, rows, columns, [b, s]), values);
        return values;
    }
}
