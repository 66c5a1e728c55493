using System;
using System.IO;
using System.Linq;
using Quant.Kernels;
using Quant.Runtime.Gguf;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>The Llama GGUF writer: names, the rotary permutation, the metadata llama.cpp needs, types and fallbacks.</summary>
public sealed class LlamaGgufTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("quant-llama-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("model.embed_tokens.weight", "token_embd.weight")]
    [InlineData("model.norm.weight", "output_norm.weight")]
    [InlineData("lm_head.weight", "output.weight")]
    [InlineData("model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight")]
    [InlineData("model.layers.11.self_attn.q_proj.weight", "blk.11.attn_q.weight")]
    [InlineData("model.layers.2.self_attn.k_proj.weight", "blk.2.attn_k.weight")]
    [InlineData("model.layers.2.self_attn.v_proj.weight", "blk.2.attn_v.weight")]
    [InlineData("model.layers.2.self_attn.o_proj.weight", "blk.2.attn_output.weight")]
    [InlineData("model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight")]
    [InlineData("model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight")]
    [InlineData("model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight")]
    [InlineData("model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight")]
    [InlineData("model.layers.3.mlp.experts.0.w1.weight", null)]
    [InlineData("model.rotary_emb.inv_freq", null)]
    public void MapTensorName_FollowsGgufNames(string hf, string? gguf) => Assert.Equal(gguf, LlamaGguf.MapTensorName(hf));

    [Fact]
    public void PermuteRotaryRows_IsNumpysReshapeSwapaxes()
    {
        // 2 heads of d = 6, 3 columns; value = row * 10 + column, so each row names itself.
        int heads = 2, d = 6, columns = 3;
        var source = new float[heads * d * columns];
        for (int r = 0; r < heads * d; r++)
        {
            for (int c = 0; c < columns; c++) source[r * columns + c] = r * 10 + c;
        }
        var destination = new float[source.Length];
        LlamaGguf.PermuteRotaryRows(source, destination, heads, columns);
        // reshape(2, 2, 3, K).swapaxes(1, 2): head h's rows come out as h*6 + [0, 3, 1, 4, 2, 5].
        int[] expectedRows = [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11];
        for (int r = 0; r < expectedRows.Length; r++)
        {
            Assert.Equal(Enumerable.Range(0, columns).Select(c => (float)(expectedRows[r] * 10 + c)), destination.Skip(r * columns).Take(columns));
        }
        Assert.Throws<ArgumentException>(() => LlamaGguf.PermuteRotaryRows(new float[10], new float[10], 2, 1));
    }

    [Fact]
    public void Write_PutsWhatLlamaCppNeeds_AndFallsBackWhereBlocksDoNotFit()
    {
        // hidden 64: no q4_K block (256) fits a row of 64, but the FFN's down projection (rows of 256) does.
        var config = new LlamaConfig(128, 64, 2, 256, 4, 2, 1e-6f, 300, RopeFreqBase: 500000f);
        var checkpoint = TinyLlama.Create(config, seed: 12, tiedEmbedding: true);
        string path = Path.Combine(_dir, "m.gguf");
        var report = LlamaGguf.Write(path, config, TinyLlama.AsCheckpoint(checkpoint), new LlamaGgufOptions { Type = "q4_K", FallbackType = "q8_0" });

        Assert.DoesNotContain(report, r => r.GgufName == "output.weight");
        var down = report.Single(r => r.GgufName == "blk.0.ffn_down.weight");
        Assert.Equal("q4_K", down.Type.Name);
        var q = report.Single(r => r.GgufName == "blk.1.attn_q.weight");
        Assert.Equal("q8_0", q.Type.Name);
        Assert.Contains("row length 64 is not a multiple of q4_K's block size 256: stored as q8_0", q.Note);
        Assert.Contains("permuted", q.Note);
        Assert.Equal("f32", report.Single(r => r.GgufName == "output_norm.weight").Type.Name);

        using var file = GgufFile.Open(path);
        var m = file.Metadata;
        Assert.Equal("llama", m.GetString("general.architecture"));
        Assert.Equal(128u, m.GetUInt32("llama.context_length"));
        Assert.Equal(64u, m.GetUInt32("llama.embedding_length"));
        Assert.Equal(2u, m.GetUInt32("llama.block_count"));
        Assert.Equal(256u, m.GetUInt32("llama.feed_forward_length"));
        Assert.Equal(4u, m.GetUInt32("llama.attention.head_count"));
        Assert.Equal(2u, m.GetUInt32("llama.attention.head_count_kv"));
        Assert.Equal(16u, m.GetUInt32("llama.rope.dimension_count"));
        Assert.Equal(500000f, m.GetFloat32("llama.rope.freq_base"));
        Assert.Equal(1e-6f, m.GetFloat32("llama.attention.layer_norm_rms_epsilon"));
        Assert.Equal("gpt2", m.GetString("tokenizer.ggml.model"));
        var tokens = m.GetStringArray("tokenizer.ggml.tokens");
        Assert.Equal(300, tokens.Length);
        Assert.Equal("A", tokens['A']);
        Assert.Equal("\u0120", tokens[' ']); // GPT-2's byte mapping: space is U+0120
        Assert.Equal(0, m.GetArray("tokenizer.ggml.merges").Count);
        Assert.Equal(298u, m.GetUInt32("tokenizer.ggml.bos_token_id"));

        // The stored q_proj is the permuted, quantized checkpoint tensor.
        var values = checkpoint["model.layers.1.self_attn.q_proj.weight"].Values;
        var permuted = new float[values.Length];
        LlamaGguf.PermuteRotaryRows(values, permuted, config.HeadCount, 64);
        var expected = FormatKernels.For("q8_0").Quantize(permuted, 64, 64).Plane(0).ToArray();
        Assert.True(file.GetData(file.GetTensor("blk.1.attn_q.weight")).SequenceEqual(expected));
    }

    [Fact]
    public void Write_RefusesWrongShapesMissingTensorsAndUnknownNames()
    {
        var config = new LlamaConfig(32, 64, 1, 128, 2, 1, 1e-5f, 260);
        var checkpoint = TinyLlama.Create(config, seed: 1);
        string path = Path.Combine(_dir, "bad.gguf");
        var missing = TinyLlama.AsCheckpoint(checkpoint).Where(t => !t.Name.Contains("up_proj", StringComparison.Ordinal)).ToList();
        Assert.Contains("blk.0.ffn_up.weight", Assert.Throws<QuantFormatException>(() => LlamaGguf.Write(path, config, missing)).Message);
        var wrong = TinyLlama.AsCheckpoint(checkpoint);
        wrong[1] = wrong[1] with { Shape = [1, 64] };
        Assert.Contains("the config needs", Assert.Throws<QuantFormatException>(() => LlamaGguf.Write(path, config, wrong)).Message);
        var unknown = TinyLlama.AsCheckpoint(checkpoint);
        unknown.Add(CheckpointTensor.FromValues("model.layers.0.mlp.experts.0.w1.weight", [1], [0f]));
        Assert.Contains("is not a Llama tensor", Assert.Throws<QuantFormatException>(() => LlamaGguf.Write(path, config, unknown)).Message);
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
