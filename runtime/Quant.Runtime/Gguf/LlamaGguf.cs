using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Quant.Kernels;

namespace Quant.Runtime.Gguf;

/// <summary>The hyperparameters of a Llama-architecture model, in the words of its GGUF keys (HF <c>config.json</c> names in the docs).</summary>
/// <param name="ContextLength"><c>llama.context_length</c> (<c>max_position_embeddings</c>): tokens.</param>
/// <param name="EmbeddingLength"><c>llama.embedding_length</c> (<c>hidden_size</c>).</param>
/// <param name="BlockCount"><c>llama.block_count</c> (<c>num_hidden_layers</c>).</param>
/// <param name="FeedForwardLength"><c>llama.feed_forward_length</c> (<c>intermediate_size</c>).</param>
/// <param name="HeadCount"><c>llama.attention.head_count</c> (<c>num_attention_heads</c>).</param>
/// <param name="HeadCountKv"><c>llama.attention.head_count_kv</c> (<c>num_key_value_heads</c>); divides <paramref name="HeadCount"/>.</param>
/// <param name="RmsNormEpsilon"><c>llama.attention.layer_norm_rms_epsilon</c> (<c>rms_norm_eps</c>).</param>
/// <param name="VocabSize">Tokens in the vocabulary (<c>vocab_size</c>): rows of the embedding and of the output.</param>
/// <param name="RopeFreqBase"><c>llama.rope.freq_base</c> (<c>rope_theta</c>).</param>
public sealed record LlamaConfig(int ContextLength, int EmbeddingLength, int BlockCount, int FeedForwardLength,
    int HeadCount, int HeadCountKv, float RmsNormEpsilon, int VocabSize, float RopeFreqBase = 10000f)
{
    /// <summary>Elements per attention head: <c>EmbeddingLength / HeadCount</c>.</summary>
    public int HeadDim => EmbeddingLength / HeadCount;

    /// <summary>Checks that the values describe a model llama.cpp can build.</summary>
    /// <exception cref="ArgumentException">A value is not positive, the heads do not divide the embedding, the KV heads do not divide the heads, or the head size is odd (RoPE rotates pairs).</exception>
    public void Validate()
    {
        foreach (var (name, value) in new[] { ("ContextLength", ContextLength), ("EmbeddingLength", EmbeddingLength), ("BlockCount", BlockCount),
                     ("FeedForwardLength", FeedForwardLength), ("HeadCount", HeadCount), ("HeadCountKv", HeadCountKv), ("VocabSize", VocabSize) })
        {
            if (value <= 0) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{name} must be positive; it is {value}."));
        }
        if (EmbeddingLength % HeadCount != 0 || HeadDim % 2 != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"EmbeddingLength {EmbeddingLength} must split into {HeadCount} heads of an even size (RoPE rotates pairs)."));
        }
        if (HeadCount % HeadCountKv != 0)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"HeadCountKv {HeadCountKv} must divide HeadCount {HeadCount}."));
        }
        if (!(RmsNormEpsilon > 0) || !(RopeFreqBase > 0)) throw new ArgumentException("RmsNormEpsilon and RopeFreqBase must be positive.");
    }
}

/// <summary>A tokenizer as GGUF stores it (<c>tokenizer.ggml.*</c>).</summary>
/// <param name="Model"><c>tokenizer.ggml.model</c>: <c>gpt2</c> (byte-level BPE) or <c>llama</c> (SentencePiece).</param>
/// <param name="Tokens"><c>tokenizer.ggml.tokens</c>: one string per token id.</param>
/// <param name="TokenTypes"><c>tokenizer.ggml.token_type</c> (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), or null.</param>
/// <param name="Merges"><c>tokenizer.ggml.merges</c> (BPE: <c>"a b"</c> pairs, may be empty), or null.</param>
/// <param name="Scores"><c>tokenizer.ggml.scores</c> (SentencePiece), or null.</param>
/// <param name="BosTokenId"><c>tokenizer.ggml.bos_token_id</c>, or null.</param>
/// <param name="EosTokenId"><c>tokenizer.ggml.eos_token_id</c>, or null.</param>
/// <param name="Pre"><c>tokenizer.ggml.pre</c>, the pre-tokenizer (<c>default</c>, <c>llama-bpe</c>, ...), or null.</param>
public sealed record GgufTokenizer(string Model, string[] Tokens, int[]? TokenTypes = null, string[]? Merges = null,
    float[]? Scores = null, uint? BosTokenId = null, uint? EosTokenId = null, string? Pre = null)
{
    /// <summary>
    /// The smallest vocabulary llama.cpp tokenizes text with: a <c>gpt2</c> vocabulary whose first 256
    /// tokens are the 256 bytes in GPT-2's byte-to-character mapping, then <c>&lt;unused N&gt;</c> tokens,
    /// and a BOS and an EOS control token at the end; no merges (text becomes one token per byte).
    /// </summary>
    /// <param name="vocabSize">Tokens in all, at least 258.</param>
    /// <exception cref="ArgumentException"><paramref name="vocabSize"/> is below 258.</exception>
    public static GgufTokenizer ByteLevel(int vocabSize)
    {
        if (vocabSize < 258) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"A byte-level vocabulary needs 258 tokens (256 bytes, BOS, EOS); the model has {vocabSize}."), nameof(vocabSize));
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        // GPT-2's mapping: printable bytes stand for themselves, the others take the characters from U+0100 on, in byte order.
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            tokens[b] = ((char)(printable ? b : next++)).ToString();
            types[b] = 1;
        }
        for (int i = 256; i < vocabSize - 2; i++)
        {
            tokens[i] = string.Create(CultureInfo.InvariantCulture, $"<unused {i}>");
            types[i] = 5;
        }
        tokens[vocabSize - 2] = "<s>";
        tokens[vocabSize - 1] = "</s>";
        types[vocabSize - 2] = types[vocabSize - 1] = 3;
        return new GgufTokenizer("gpt2", tokens, types, [], null, (uint)(vocabSize - 2), (uint)(vocabSize - 1), "default");
    }

    /// <summary>Adds the <c>tokenizer.ggml.*</c> pairs to <paramref name="metadata"/>.</summary>
    public void AddTo(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        metadata.Add("tokenizer.ggml.model", Model);
        if (Pre is not null) metadata.Add("tokenizer.ggml.pre", Pre);
        metadata.Add("tokenizer.ggml.tokens", GgufArray.Of(Tokens));
        if (Scores is not null) metadata.Add("tokenizer.ggml.scores", GgufArray.Of(Scores));
        if (TokenTypes is not null) metadata.Add("tokenizer.ggml.token_type", GgufArray.Of(TokenTypes));
        if (Merges is not null) metadata.Add("tokenizer.ggml.merges", GgufArray.Of(Merges));
        if (BosTokenId is uint bos) metadata.Add("tokenizer.ggml.bos_token_id", bos);
        if (EosTokenId is uint eos) metadata.Add("tokenizer.ggml.eos_token_id", eos);
    }
}

/// <summary>A tensor of a checkpoint, by its Hugging Face name and shape; its float32 values are read only when it is written.</summary>
/// <param name="Name">The checkpoint's name (<c>model.layers.0.self_attn.q_proj.weight</c>).</param>
/// <param name="Shape">The shape, slowest first as PyTorch writes it (<c>[out_features, in_features]</c>).</param>
/// <param name="Read">Returns the values, row-major, <c>product(Shape)</c> floats.</param>
public sealed record CheckpointTensor(string Name, long[] Shape, Func<float[]> Read)
{
    /// <summary>A tensor whose values are already in memory.</summary>
    public static CheckpointTensor FromValues(string name, long[] shape, float[] values) => new(name, shape, () => values);
}

/// <summary>What <see cref="LlamaGguf.Write"/> did with one tensor.</summary>
/// <param name="CheckpointName">The checkpoint's name.</param>
/// <param name="GgufName">The GGUF name.</param>
/// <param name="Type">The type it was stored as.</param>
/// <param name="Dims">Its GGUF dims, fastest first.</param>
/// <param name="Bytes">Bytes of data.</param>
/// <param name="Note">Why it is not of the requested type (1-D tensors stay F32; a row length that is not a multiple of the block size falls back), or what was done to it (the rotary permutation); null otherwise.</param>
public sealed record LlamaTensorReport(string CheckpointName, string GgufName, GgufTensorType Type, long[] Dims, long Bytes, string? Note);

/// <summary>How <see cref="LlamaGguf.Write"/> stores the weights.</summary>
public sealed record LlamaGgufOptions
{
    /// <summary>The type of every 2-D weight (<c>f32</c>, <c>f16</c>, <c>bf16</c>, <c>q8_0</c>, <c>q4_K</c>, ... any format with a GGUF id). 1-D tensors (norms, biases) stay F32.</summary>
    public string Type { get; init; } = "f32";

    /// <summary>The type of a 2-D weight whose row length is not a multiple of <see cref="Type"/>'s block size (F32 if this one does not fit either).</summary>
    public string FallbackType { get; init; } = "f16";

    /// <summary>The quantization rule of <see cref="Type"/> (null: the format's default, ggml's own for the ggml formats).</summary>
    public string? Rule { get; init; }

    /// <summary>The tokenizer; null writes <see cref="GgufTokenizer.ByteLevel"/> of the vocabulary size.</summary>
    public GgufTokenizer? Tokenizer { get; init; }

    /// <summary><c>general.name</c>, or null for none.</summary>
    public string? Name { get; init; }

    /// <summary>Quantization threads; 0 for every core.</summary>
    public int Threads { get; init; }
}

/// <summary>
/// Writes a Llama-architecture model as a GGUF file that llama.cpp loads: the <c>llama.*</c> hyperparameters,
/// a tokenizer, and the tensors renamed from Hugging Face's names to GGUF's, with the query and key
/// projections' rows permuted from Hugging Face's rotary layout to GGUF's (see <see cref="PermuteRotaryRows"/>).
/// </summary>
public static class LlamaGguf
{
    private static readonly Regex s_layer = new(@"^model\.layers\.(\d+)\.(.+)$", RegexOptions.CultureInvariant);

    private static readonly Dictionary<string, string> s_layerNames = new(StringComparer.Ordinal)
    {
        ["input_layernorm.weight"] = "attn_norm.weight",
        ["self_attn.q_proj.weight"] = "attn_q.weight",
        ["self_attn.k_proj.weight"] = "attn_k.weight",
        ["self_attn.v_proj.weight"] = "attn_v.weight",
        ["self_attn.o_proj.weight"] = "attn_output.weight",
        ["self_attn.q_proj.bias"] = "attn_q.bias",
        ["self_attn.k_proj.bias"] = "attn_k.bias",
        ["self_attn.v_proj.bias"] = "attn_v.bias",
        ["self_attn.o_proj.bias"] = "attn_output.bias",
        ["post_attention_layernorm.weight"] = "ffn_norm.weight",
        ["mlp.gate_proj.weight"] = "ffn_gate.weight",
        ["mlp.up_proj.weight"] = "ffn_up.weight",
        ["mlp.down_proj.weight"] = "ffn_down.weight",
    };

    private static readonly string[] s_requiredPerLayer =
        ["attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"];

    /// <summary>The GGUF name of a Hugging Face Llama tensor (<c>model.layers.3.mlp.up_proj.weight</c> is <c>blk.3.ffn_up.weight</c>), or null for a name this mapping does not know.</summary>
    public static string? MapTensorName(string checkpointName)
    {
        ArgumentNullException.ThrowIfNull(checkpointName);
        switch (checkpointName)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }
        var match = s_layer.Match(checkpointName);
        return match.Success && s_layerNames.TryGetValue(match.Groups[2].Value, out var suffix)
            ? $"blk.{match.Groups[1].Value}.{suffix}"
            : null;
    }

    /// <summary>
    /// Reorders the rows of a query or key projection (or its bias) from Hugging Face's rotary layout to
    /// GGUF's, as llama.cpp's converter does. Hugging Face rotates the two halves of each head
    /// (element i with element i + d/2, "rotate half"); llama.cpp's Llama rotates neighbours (2i with 2i + 1).
    /// So within each head of d rows, GGUF row <c>2i + s</c> is Hugging Face row <c>s * d/2 + i</c>
    /// (i &lt; d/2, s in {0, 1}): numpy's <c>reshape(heads, 2, d/2, K).swapaxes(1, 2)</c>.
    /// </summary>
    /// <param name="source">Row-major <c>[heads * d, columns]</c> floats in Hugging Face order.</param>
    /// <param name="destination">The same shape, in GGUF order.</param>
    /// <param name="heads">Heads in the projection: the attention heads for q_proj, the KV heads for k_proj.</param>
    /// <param name="columns">Elements per row (1 for a bias).</param>
    /// <exception cref="ArgumentException">The rows do not split into heads of an even size, or the spans differ in length.</exception>
    public static void PermuteRotaryRows(ReadOnlySpan<float> source, Span<float> destination, int heads, int columns)
    {
        if (heads <= 0 || columns <= 0 || source.Length % ((long)heads * columns) != 0 || destination.Length != source.Length)
        {
            throw new ArgumentException("The projection must be [heads * d, columns] and the destination the same size.");
        }
        int d = source.Length / columns / heads;
        if (d % 2 != 0) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Heads of {d} rows cannot be rotated in pairs."));
        int half = d / 2;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < half; i++)
            {
                for (int s = 0; s < 2; s++)
                {
                    int to = h * d + 2 * i + s, from = h * d + s * half + i;
                    source.Slice(from * columns, columns).CopyTo(destination.Slice(to * columns, columns));
                }
            }
        }
    }

    /// <summary>The metadata llama.cpp needs for <paramref name="config"/>: <c>general.*</c>, <c>llama.*</c> and the tokenizer.</summary>
    /// <exception cref="ArgumentException">The config is invalid, or the tokenizer does not have <c>VocabSize</c> tokens.</exception>
    public static GgufMetadata CreateMetadata(LlamaConfig config, GgufTokenizer? tokenizer = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        tokenizer ??= GgufTokenizer.ByteLevel(config.VocabSize);
        if (tokenizer.Tokens.Length != config.VocabSize)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"The tokenizer has {tokenizer.Tokens.Length} tokens; the model's vocabulary has {config.VocabSize}."), nameof(tokenizer));
        }
        var metadata = new GgufMetadata()
            .Add("general.architecture", "llama");
        if (name is not null) metadata.Add("general.name", name);
        metadata
            .Add("llama.vocab_size", (uint)config.VocabSize)
            .Add("llama.context_length", (uint)config.ContextLength)
            .Add("llama.embedding_length", (uint)config.EmbeddingLength)
            .Add("llama.block_count", (uint)config.BlockCount)
            .Add("llama.feed_forward_length", (uint)config.FeedForwardLength)
            .Add("llama.rope.dimension_count", (uint)config.HeadDim)
            .Add("llama.rope.freq_base", config.RopeFreqBase)
            .Add("llama.attention.head_count", (uint)config.HeadCount)
            .Add("llama.attention.head_count_kv", (uint)config.HeadCountKv)
            .Add("llama.attention.layer_norm_rms_epsilon", config.RmsNormEpsilon);
        tokenizer.AddTo(metadata);
        return metadata;
    }

    /// <summary>
    /// Writes a Llama model as GGUF, atomically and one tensor at a time (each is read, permuted if it is
    /// q_proj / k_proj, quantized and written before the next is read).
    /// </summary>
    /// <param name="path">The GGUF file to create or replace.</param>
    /// <param name="config">The hyperparameters.</param>
    /// <param name="tensors">The checkpoint's tensors with Hugging Face names; every layer's nine tensors, the embedding and the final norm are required, <c>lm_head.weight</c> is optional (llama.cpp then reuses the embedding).</param>
    /// <param name="options">Types, tokenizer and name.</param>
    /// <returns>What was written for each tensor, in file order.</returns>
    /// <exception cref="QuantFormatException">A tensor has an unknown name, a shape that does not fit the config, or values of the wrong count; a required tensor is missing; a type cannot be a GGUF tensor type.</exception>
    public static IReadOnlyList<LlamaTensorReport> Write(string path, LlamaConfig config, IReadOnlyList<CheckpointTensor> tensors, LlamaGgufOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        options ??= new LlamaGgufOptions();
        var metadata = CreateMetadata(config, options.Tokenizer, options.Name);
        var type = GgufTensorType.Get(options.Type);
        var fallback = GgufTensorType.Get(options.FallbackType);
        int rule = type.Format?.Info.FindRule(options.Rule) ?? -1;

        var plan = new List<(CheckpointTensor Source, LlamaTensorReport Report, int PermuteHeads)>();
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            string gguf = MapTensorName(t.Name) ?? throw new QuantFormatException($"Tensor '{t.Name}' is not a Llama tensor this writer knows.");
            long[] expected = ExpectedShape(gguf, config)
                ?? throw new QuantFormatException($"Tensor '{t.Name}' ({gguf}) belongs to no layer of a {config.BlockCount}-layer model.");
            if (!t.Shape.AsSpan().SequenceEqual(expected))
            {
                throw new QuantFormatException($"Tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}]; the config needs [{string.Join(", ", expected)}].");
            }
            present.Add(gguf);
            long[] dims = (long[])t.Shape.Clone();
            Array.Reverse(dims);
            var chosen = GgufTensorType.F32;
            string? note = null;
            if (dims.Length == 2)
            {
                chosen = type;
                if (dims[0] % type.BlockSize != 0)
                {
                    chosen = dims[0] % fallback.BlockSize == 0 ? fallback : GgufTensorType.F32;
                    note = string.Create(CultureInfo.InvariantCulture,
                        $"row length {dims[0]} is not a multiple of {type.Name}'s block size {type.BlockSize}: stored as {chosen.Name}");
                }
            }
            else if (type != GgufTensorType.F32)
            {
                note = "1-D: kept in f32";
            }
            int permute = gguf.EndsWith(".attn_q.weight", StringComparison.Ordinal) || gguf.EndsWith(".attn_q.bias", StringComparison.Ordinal) ? config.HeadCount
                : gguf.EndsWith(".attn_k.weight", StringComparison.Ordinal) || gguf.EndsWith(".attn_k.bias", StringComparison.Ordinal) ? config.HeadCountKv
                : 0;
            if (permute > 0) note = note is null ? "rows permuted to GGUF's rotary order" : note + "; rows permuted to GGUF's rotary order";
            plan.Add((t, new LlamaTensorReport(t.Name, gguf, chosen, dims, chosen.ByteCount(dims), note), permute));
        }
        var missing = new List<string>();
        if (!present.Contains("token_embd.weight")) missing.Add("model.embed_tokens.weight");
        if (!present.Contains("output_norm.weight")) missing.Add("model.norm.weight");
        for (int layer = 0; layer < config.BlockCount; layer++)
        {
            foreach (var suffix in s_requiredPerLayer)
            {
                if (!present.Contains($"blk.{layer}.{suffix}")) missing.Add($"blk.{layer}.{suffix}");
            }
        }
        if (missing.Count > 0) throw new QuantFormatException($"The checkpoint lacks tensors a Llama model needs: {string.Join(", ", missing)}.");

        var table = plan.ConvertAll(p => new GgufTensorSpec(p.Report.GgufName, p.Report.Dims, p.Report.Type));
        using var writer = GgufWriter.Create(path, metadata, table);
        foreach (var (source, report, heads) in plan)
        {
            float[] values = source.Read();
            long count = 1;
            foreach (long d in source.Shape) count *= d;
            if (values.Length != count)
            {
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"Tensor '{source.Name}' of shape [{string.Join(", ", source.Shape)}] read {values.Length} values, not {count}."));
            }
            if (heads > 0)
            {
                var permuted = new float[values.Length];
                PermuteRotaryRows(values, permuted, heads, report.Dims.Length == 2 ? (int)report.Dims[0] : 1);
                values = permuted;
            }
            if (report.Type.Format is null)
            {
                writer.WriteTensor(report.GgufName, MemoryMarshal.AsBytes(values.AsSpan()));
            }
            else
            {
                int columns = (int)report.Dims[0], rows = (int)(values.Length / columns);
                var matrix = FormatKernels.For(report.Type.Format).Quantize(values, rows, columns, ReferenceEquals(report.Type, type) ? rule : -1, default, options.Threads);
                writer.WriteTensor(report.GgufName, matrix.Plane(0).Span);
            }
        }
        writer.Commit();
        return plan.ConvertAll(p => p.Report);
    }

    // The Hugging Face shape (slowest first) a GGUF tensor must have, or null for a layer the model does not have.
    private static long[]? ExpectedShape(string gguf, LlamaConfig c)
    {
        long h = c.EmbeddingLength, kv = (long)c.HeadCountKv * c.HeadDim, f = c.FeedForwardLength, v = c.VocabSize;
        switch (gguf)
        {
            case "token_embd.weight":
            case "output.weight":
                return [v, h];
            case "output_norm.weight":
                return [h];
        }
        var parts = gguf.Split('.', 3);
        if (parts.Length != 3 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int layer) || layer >= c.BlockCount) return null;
        return parts[2] switch
        {
            "attn_norm.weight" or "ffn_norm.weight" or "attn_q.bias" or "attn_output.bias" => [h],
            "attn_k.bias" or "attn_v.bias" => [kv],
            "attn_q.weight" or "attn_output.weight" => [h, h],
            "attn_k.weight" or "attn_v.weight" => [kv, h],
            "ffn_gate.weight" or "ffn_up.weight" => [f, h],
            "ffn_down.weight" => [h, f],
            _ => null,
        };
    }
}
