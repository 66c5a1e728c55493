using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Gguf;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>
/// A scaled-down random Llama checkpoint with Hugging Face names and shapes. Weights are scaled as a trained
/// model's are at initialisation, so every stage carries signal: embeddings N(0, 1), each projection
/// N(0, 1 / in_features) (unit-variance outputs), norm gains 1 + N(0, 0.1^2). The logits then spread over
/// a few units and the attention is far from uniform.
/// </summary>
internal static class TinyLlama
{
    /// <summary>2 layers, hidden 256 (q4_K needs rows of 256), 4 heads of 64, 2 KV heads, FFN 512, vocabulary 384.</summary>
    public static LlamaConfig Config { get; } = new(ContextLength: 64, EmbeddingLength: 256, BlockCount: 2, FeedForwardLength: 512,
        HeadCount: 4, HeadCountKv: 2, RmsNormEpsilon: 1e-5f, VocabSize: 384);

    public static Dictionary<string, (long[] Shape, float[] Values)> Create(LlamaConfig c, ulong seed, bool tiedEmbedding = false)
    {
        var rng = new SplitMix64(seed);
        var tensors = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        int h = c.EmbeddingLength, kv = c.HeadCountKv * c.HeadDim, f = c.FeedForwardLength;
        void Matrix(string name, int rows, int columns, double std)
        {
            var values = new float[(long)rows * columns];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextGaussian() * std);
            tensors[name] = ([rows, columns], values);
        }
        void Gain(string name)
        {
            var values = new float[h];
            for (int i = 0; i < h; i++) values[i] = (float)(1 + 0.1 * rng.NextGaussian());
            tensors[name] = ([h], values);
        }
        Matrix("model.embed_tokens.weight", c.VocabSize, h, 1.0);
        for (int l = 0; l < c.BlockCount; l++)
        {
            string p = $"model.layers.{l}.";
            Gain(p + "input_layernorm.weight");
            Matrix(p + "self_attn.q_proj.weight", h, h, 1 / Math.Sqrt(h));
            Matrix(p + "self_attn.k_proj.weight", kv, h, 1 / Math.Sqrt(h));
            Matrix(p + "self_attn.v_proj.weight", kv, h, 1 / Math.Sqrt(h));
            Matrix(p + "self_attn.o_proj.weight", h, h, 1 / Math.Sqrt(h));
            Gain(p + "post_attention_layernorm.weight");
            Matrix(p + "mlp.gate_proj.weight", f, h, 1 / Math.Sqrt(h));
            Matrix(p + "mlp.up_proj.weight", f, h, 1 / Math.Sqrt(h));
            Matrix(p + "mlp.down_proj.weight", h, f, 1 / Math.Sqrt(f));
        }
        Gain("model.norm.weight");
        if (!tiedEmbedding) Matrix("lm_head.weight", c.VocabSize, h, 1 / Math.Sqrt(h));
        return tensors;
    }

    public static List<CheckpointTensor> AsCheckpoint(Dictionary<string, (long[] Shape, float[] Values)> tensors)
        => tensors.Select(t => CheckpointTensor.FromValues(t.Key, t.Value.Shape, t.Value.Values)).ToList();
}
