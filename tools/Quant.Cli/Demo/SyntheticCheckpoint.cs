using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using Quant.Kernels;
using Quant.Numerics;
using Quant.Runtime.IO;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Cli.Demo;

/// <summary>
/// A small random Hugging Face checkpoint with the real tensor names and shapes of an architecture, scaled down:
/// <c>config.json</c>, <c>model.safetensors</c> (BF16, as released checkpoints are; GPT-OSS's experts in its MXFP4
/// layout) and a tiny byte-level BPE <c>tokenizer.json</c>, for <c>quant quantize</c> to work on. Weights are scaled as
/// at initialisation (embeddings N(0, 1), projections N(0, 1 / in_features), norm gains 1 + N(0, 0.01)), so every layer
/// carries signal.
/// </summary>
internal static class SyntheticCheckpoint
{
    /// <summary>The architectures it writes.</summary>
    public static IReadOnlyList<string> Architectures { get; } = ["llama", "qwen3-moe", "gpt-oss"];

    /// <summary>What was written: the files, the tensor count, the bytes of tensor data.</summary>
    public sealed record Result(string Architecture, IReadOnlyList<string> Files, int Tensors, long Bytes, int Layers, int Hidden);

    private sealed record Tensor(string Name, DType DType, int[] Shape, Func<HostTensor> Make);

    /// <summary>
    /// Writes the checkpoint into <paramref name="directory"/> (created if needed): the tiny model by default, or one whose
    /// tensors take about <paramref name="targetBytes"/> (hidden 1024, more layers for more bytes).
    /// </summary>
    public static Result Write(string directory, string architecture, long? targetBytes, ulong seed)
    {
        Directory.CreateDirectory(directory);
        var shape = Shape.For(architecture, targetBytes);
        var rng = new Stream(seed);
        var tensors = new List<Tensor>();
        void Matrix(string name, int rows, int columns, double std) => tensors.Add(new(name, DType.BF16, [rows, columns], () => Gaussian(rng.Next(), rows * (long)columns, std).Reshape(rows, columns)));
        void Gain(string name, int length) => tensors.Add(new(name, DType.BF16, [length], () => Gains(rng.Next(), length)));
        void Vector(string name, int[] dims, double std) => tensors.Add(new(name, DType.BF16, dims, () => Gaussian(rng.Next(), dims.Aggregate(1L, (a, b) => a * b), std).Reshape(dims)));

        int h = shape.Hidden, q = shape.Heads * shape.HeadDim, kv = shape.KvHeads * shape.HeadDim;
        double inH = 1 / Math.Sqrt(h);
        Matrix("model.embed_tokens.weight", shape.Vocab, h, 1.0);
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            Gain(p + "input_layernorm.weight", h);
            Matrix(p + "self_attn.q_proj.weight", q, h, inH);
            Matrix(p + "self_attn.k_proj.weight", kv, h, inH);
            Matrix(p + "self_attn.v_proj.weight", kv, h, inH);
            Matrix(p + "self_attn.o_proj.weight", h, q, 1 / Math.Sqrt(q));
            Gain(p + "post_attention_layernorm.weight", h);
            switch (architecture)
            {
                case "llama":
                    Matrix(p + "mlp.gate_proj.weight", shape.Ffn, h, inH);
                    Matrix(p + "mlp.up_proj.weight", shape.Ffn, h, inH);
                    Matrix(p + "mlp.down_proj.weight", h, shape.Ffn, 1 / Math.Sqrt(shape.Ffn));
                    break;
                case "qwen3-moe":
                    Gain(p + "self_attn.q_norm.weight", shape.HeadDim);
                    Gain(p + "self_attn.k_norm.weight", shape.HeadDim);
                    Matrix(p + "mlp.gate.weight", shape.Experts, h, inH);
                    for (int e = 0; e < shape.Experts; e++)
                    {
                        Matrix($"{p}mlp.experts.{e}.gate_proj.weight", shape.Ffn, h, inH);
                        Matrix($"{p}mlp.experts.{e}.up_proj.weight", shape.Ffn, h, inH);
                        Matrix($"{p}mlp.experts.{e}.down_proj.weight", h, shape.Ffn, 1 / Math.Sqrt(shape.Ffn));
                    }
                    break;
                case "gpt-oss":
                    foreach (var (proj, rows) in new[] { ("q_proj", q), ("k_proj", kv), ("v_proj", kv), ("o_proj", h) }) Vector($"{p}self_attn.{proj}.bias", [rows], 0.02);
                    Vector(p + "self_attn.sinks", [shape.Heads], 1.0);
                    Matrix(p + "mlp.router.weight", shape.Experts, h, inH);
                    Vector(p + "mlp.router.bias", [shape.Experts], 0.02);
                    Mxfp4Experts(tensors, rng, p + "mlp.experts.gate_up_proj", shape.Experts, 2 * shape.Ffn, h);
                    Vector(p + "mlp.experts.gate_up_proj_bias", [shape.Experts, 2 * shape.Ffn], 0.02);
                    Mxfp4Experts(tensors, rng, p + "mlp.experts.down_proj", shape.Experts, h, shape.Ffn);
                    Vector(p + "mlp.experts.down_proj_bias", [shape.Experts, h], 0.02);
                    break;
            }
        }
        Gain("model.norm.weight", h);
        Matrix("lm_head.weight", shape.Vocab, h, inH);

        string model = Path.Combine(directory, "model.safetensors");
        using (var writer = new SafetensorsWriter(model, tensors.Select(t => new SafetensorsTensorInfo(t.Name, t.DType, t.Shape)).ToArray(),
                   new Dictionary<string, string> { ["format"] = "pt" }))
        {
            foreach (var t in tensors)
            {
                var value = t.Make();
                writer.Write(t.Name, value.DType == t.DType ? value : value.ToDType(t.DType));
            }
            writer.Commit();
        }
        string config = Path.Combine(directory, "config.json");
        AtomicFile.WriteAllBytes(config, System.Text.Encoding.UTF8.GetBytes(Config(architecture, shape).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })));
        string tokenizer = Path.Combine(directory, "tokenizer.json");
        AtomicFile.WriteAllBytes(tokenizer, System.Text.Encoding.UTF8.GetBytes(Tokenizer(shape.Vocab).ToJsonString()));
        return new Result(architecture, [config, model, tokenizer], tensors.Count, tensors.Sum(t => HostTensor.ByteCountOf(t.DType, t.Shape)), shape.Layers, h);
    }

    // GPT-OSS experts as its checkpoint stores them: E2M1 codes [E, N, K/32, 16] and E8M0 scales [E, N, K/32].
    private static void Mxfp4Experts(List<Tensor> tensors, Stream rng, string stem, int experts, int rows, int columns)
    {
        ulong seed = rng.Next();
        (HostTensor Blocks, HostTensor Scales)? made = null;
        (HostTensor, HostTensor) Make()
        {
            if (made is { } m) return m;
            var kernels = FormatKernels.For("mxfp4");
            var blocks = new byte[(long)experts * rows * columns / 2];
            var scales = new byte[(long)experts * rows * columns / 32];
            for (int e = 0; e < experts; e++)
            {
                var values = Gaussian(seed + (ulong)e, (long)rows * columns, 1 / Math.Sqrt(columns)).AsSpan<float>();
                var matrix = kernels.Quantize(values, rows, columns);
                matrix.Plane(0).Span.CopyTo(blocks.AsSpan(e * rows * columns / 2));
                matrix.Plane(1).Span.CopyTo(scales.AsSpan(e * rows * columns / 32));
            }
            made = (HostTensor.FromOwnedBytes(DType.U8, [experts, rows, columns / 32, 16], blocks), HostTensor.FromOwnedBytes(DType.U8, [experts, rows, columns / 32], scales));
            return made.Value;
        }
        tensors.Add(new(stem + "_blocks", DType.U8, [experts, rows, columns / 32, 16], () => Make().Item1));
        tensors.Add(new(stem + "_scales", DType.U8, [experts, rows, columns / 32], () => Make().Item2));
    }

    private static HostTensor Gaussian(ulong seed, long count, double std)
    {
        var values = new float[count];
        const int Chunk = 1 << 16;
        System.Threading.Tasks.Parallel.For(0, (int)((count + Chunk - 1) / Chunk), c =>
        {
            var part = values.AsSpan(c * Chunk, (int)Math.Min(Chunk, count - (long)c * Chunk));
            Demo.Gaussian.FillRow(part, Demo.Gaussian.Mix(seed, (ulong)c));
            for (int i = 0; i < part.Length; i++) part[i] = (float)(part[i] * std);
        });
        return HostTensor.FromArray(values, values.Length);
    }

    private static HostTensor Gains(ulong seed, int length)
    {
        var values = Gaussian(seed, length, 0.1).AsWritableSpan<float>();
        for (int i = 0; i < values.Length; i++) values[i] += 1f;
        return HostTensor.FromArray(values.ToArray(), length);
    }

    private static JsonObject Config(string architecture, Shape s)
    {
        var c = new JsonObject
        {
            ["architectures"] = new JsonArray(architecture switch { "llama" => "LlamaForCausalLM", "qwen3-moe" => "Qwen3MoeForCausalLM", _ => "GptOssForCausalLM" }),
            ["model_type"] = architecture switch { "llama" => "llama", "qwen3-moe" => "qwen3_moe", _ => "gpt_oss" },
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Ffn,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["head_dim"] = s.HeadDim,
            ["max_position_embeddings"] = 2048,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["vocab_size"] = s.Vocab,
            ["bos_token_id"] = s.Vocab - 2,
            ["eos_token_id"] = s.Vocab - 1,
            ["tie_word_embeddings"] = false,
            ["torch_dtype"] = "bfloat16",
        };
        if (architecture == "qwen3-moe")
        {
            c["num_experts"] = s.Experts;
            c["num_experts_per_tok"] = 2;
            c["moe_intermediate_size"] = s.Ffn;
            c["norm_topk_prob"] = true;
        }
        if (architecture == "gpt-oss")
        {
            c["num_local_experts"] = s.Experts;
            c["experts_per_token"] = 2;
            c["num_experts_per_tok"] = 2;
            c["sliding_window"] = 128;
            c["quantization_config"] = new JsonObject { ["quant_method"] = "mxfp4", ["modules_to_not_convert"] = new JsonArray("model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head") };
        }
        return c;
    }

    /// <summary>
    /// A byte-level BPE tokenizer (GPT-2's byte-to-character mapping): the 256 bytes, a few merges of common English pairs,
    /// BOS and EOS as the last two ids; the ids between are left for the converter to pad.
    /// </summary>
    private static JsonObject Tokenizer(int vocab)
    {
        var bytes = new string[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            bytes[b] = ((char)(printable ? b : next++)).ToString();
        }
        var vocabulary = new JsonObject();
        for (int b = 0; b < 256; b++) vocabulary[bytes[b]] = b;
        string space = bytes[' '];
        var merges = new JsonArray();
        int id = 256;
        foreach (var (a, b) in new[] { (space, "t"), ("h", "e"), (space + "t", "he"), ("i", "n"), ("e", "r"), ("a", "n"), (space, "a"), ("o", "n"), ("r", "e"), (space, "s") })
        {
            if (id >= vocab - 2) break;
            vocabulary[a + b] = id++;
            merges.Add(new JsonArray(a, b));
        }
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = vocab - 2, ["content"] = "<s>", ["special"] = true },
                new JsonObject { ["id"] = vocab - 1, ["content"] = "</s>", ["special"] = true }),
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocabulary, ["merges"] = merges },
        };
    }

    /// <summary>The scaled-down sizes of one architecture.</summary>
    private sealed record Shape(int Hidden, int Ffn, int Layers, int Heads, int KvHeads, int HeadDim, int Vocab, int Experts)
    {
        public static Shape For(string architecture, long? target)
        {
            if (!Architectures.Contains(architecture)) throw new ArgumentException($"unknown architecture '{architecture}'; known: {string.Join(", ", Architectures)}.");
            // Tiny: hidden 256 and FFN 256 / 512 fit every block size (q4_K's rows of 256 included).
            var tiny = architecture switch
            {
                "llama" => new Shape(256, 512, 2, 4, 2, 64, 384, 0),
                _ => new Shape(256, 256, 2, 4, 2, 64, 384, 4),
            };
            if (target is not long bytes) return tiny;
            var big = architecture switch
            {
                "llama" => new Shape(1024, 2816, 1, 16, 4, 64, 32000, 0),
                "qwen3-moe" => new Shape(1024, 768, 1, 16, 4, 64, 32000, 8),
                _ => new Shape(1024, 1024, 1, 16, 4, 64, 32000, 8),
            };
            // A real vocabulary (32000) from about 400 MB up; smaller models get one that keeps embeddings near a quarter of the bytes.
            big = big with { Vocab = (int)Math.Clamp(bytes / 4 / (2L * 2 * big.Hidden), 384, 32000) };
            long embeddings = 2L * 2 * big.Vocab * big.Hidden;
            long attention = 2L * big.Hidden * (2L * big.Heads * big.HeadDim + 2L * big.KvHeads * big.HeadDim);
            long ffn = architecture switch
            {
                "llama" => 2L * 3 * big.Hidden * big.Ffn,
                "qwen3-moe" => 2L * 3 * big.Experts * big.Hidden * big.Ffn,
                _ => big.Experts * 3L * big.Hidden * big.Ffn * 17 / 32,
            };
            int layers = (int)Math.Clamp((bytes - embeddings) / (attention + ffn), 1, 512);
            return big with { Layers = layers };
        }
    }

    /// <summary>Seeds for the tensors, one after another.</summary>
    private sealed class Stream(ulong seed)
    {
        private ulong _next;

        public ulong Next() => Demo.Gaussian.Mix(seed, _next++);
    }
}
