using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Quant.Runtime.Gguf;

/// <summary>Which rows of a checkpoint tensor a GGUF tensor takes (along the output dimension: dim -2 of a weight, the last of a bias).</summary>
public enum RowSelection
{
    /// <summary>Every row.</summary>
    All,
    /// <summary>Rows 0, 2, 4, ...: GPT-OSS's gate rows of its interleaved <c>gate_up_proj</c>.</summary>
    Even,
    /// <summary>Rows 1, 3, 5, ...: GPT-OSS's up rows.</summary>
    Odd,
}

/// <summary>Where (part of) a checkpoint tensor goes in a GGUF file.</summary>
/// <param name="GgufName">The GGUF tensor's name (<c>blk.3.ffn_up_exps.weight</c>).</param>
/// <param name="Expert">For a per-expert checkpoint tensor (Mixtral's <c>experts.5.w3</c>), its place in the stacked GGUF tensor; null otherwise.</param>
/// <param name="Rows">Which of its rows go there.</param>
/// <param name="PermuteHeads">For llama's query and key projections, the heads whose rows are reordered to GGUF's rotary order (<see cref="LlamaGguf.PermuteRotaryRows"/>); 0 otherwise.</param>
public sealed record GgufPlacement(string GgufName, int? Expert, RowSelection Rows, int PermuteHeads);

/// <summary>
/// What llama.cpp needs to load one model architecture, from a Hugging Face checkpoint: the GGUF tensor names of its
/// tensors and the <c>general.*</c> / <c>{arch}.*</c> metadata from its <c>config.json</c>. Known: Llama and Mistral
/// (<c>llama</c>), Mixtral (<c>llama</c> with experts), Qwen2 (<c>qwen2</c>), Qwen3 (<c>qwen3</c>), Qwen3-MoE
/// (<c>qwen3moe</c>) and GPT-OSS (<c>gpt-oss</c>). Key and tensor names are llama.cpp's (<c>src/llama-arch.cpp</c>),
/// checked against the llama.cpp that node-llama-cpp 3.22.1 ships.
/// </summary>
public sealed class GgufArchitecture
{
    private static readonly Regex s_layer = new(@"^model\.layers\.(\d+)\.(.+)$", RegexOptions.CultureInvariant);
    private static readonly Regex s_expert = new(@"^(block_sparse_moe|mlp)\.experts\.(\d+)\.(\w+)\.weight$", RegexOptions.CultureInvariant);

    private readonly Dictionary<string, string> _layerNames;
    private readonly Dictionary<string, string> _expertNames;

    private GgufArchitecture(string name, string modelType, bool permuteRotary, bool experts, Dictionary<string, string> layerNames, Dictionary<string, string> expertNames)
    {
        Name = name;
        ModelType = modelType;
        PermutesRotary = permuteRotary;
        HasExperts = experts;
        _layerNames = layerNames;
        _expertNames = expertNames;
    }

    /// <summary><c>general.architecture</c>: <c>llama</c>, <c>qwen2</c>, <c>qwen3</c>, <c>qwen3moe</c> or <c>gpt-oss</c>.</summary>
    public string Name { get; }

    /// <summary>The Hugging Face <c>model_type</c> it was chosen for (<c>mistral</c>, <c>mixtral</c>, <c>qwen3_moe</c>, ...).</summary>
    public string ModelType { get; }

    /// <summary>Whether query and key rows are reordered from Hugging Face's rotary layout to GGUF's (llama's "normal" RoPE; the others use NeoX RoPE, as Hugging Face does).</summary>
    public bool PermutesRotary { get; }

    /// <summary>Whether the model has mixture-of-experts layers.</summary>
    public bool HasExperts { get; }

    /// <summary>The Hugging Face <c>model_type</c>s this class knows.</summary>
    public static IReadOnlyList<string> KnownModelTypes { get; } = ["llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen3_moe", "gpt_oss"];

    /// <summary>The architecture of a Hugging Face <c>model_type</c>, or null for one this class does not know.</summary>
    public static GgufArchitecture? ForModelType(string modelType)
    {
        var common = new Dictionary<string, string>(StringComparer.Ordinal)
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
        var experts = new Dictionary<string, string>(StringComparer.Ordinal);
        switch (modelType)
        {
            case "llama":
            case "mistral":
                return new("llama", modelType, true, false, common, experts);
            case "mixtral":
                common["block_sparse_moe.gate.weight"] = "ffn_gate_inp.weight";
                experts["w1"] = "ffn_gate_exps.weight";
                experts["w2"] = "ffn_down_exps.weight";
                experts["w3"] = "ffn_up_exps.weight";
                return new("llama", modelType, true, true, common, experts);
            case "qwen2":
                return new("qwen2", modelType, false, false, common, experts);
            case "qwen3":
            case "qwen3_moe":
                common["self_attn.q_norm.weight"] = "attn_q_norm.weight";
                common["self_attn.k_norm.weight"] = "attn_k_norm.weight";
                if (modelType == "qwen3") return new("qwen3", modelType, false, false, common, experts);
                common["mlp.gate.weight"] = "ffn_gate_inp.weight";
                experts["gate_proj"] = "ffn_gate_exps.weight";
                experts["up_proj"] = "ffn_up_exps.weight";
                experts["down_proj"] = "ffn_down_exps.weight";
                return new("qwen3moe", modelType, false, true, common, experts);
            case "gpt_oss":
                common["post_attention_layernorm.weight"] = "post_attention_norm.weight";
                common["self_attn.sinks"] = "attn_sinks.weight";
                common["mlp.router.weight"] = "ffn_gate_inp.weight";
                common["mlp.router.bias"] = "ffn_gate_inp.bias";
                common["mlp.experts.down_proj.weight"] = "ffn_down_exps.weight";
                common["mlp.experts.down_proj_bias"] = "ffn_down_exps.bias";
                return new("gpt-oss", modelType, false, true, common, experts);
            default:
                return null;
        }
    }

    /// <summary>
    /// The architecture of a checkpoint: <c>config.json</c>'s <c>model_type</c>, or else what its tensor names say
    /// (<c>block_sparse_moe</c>: Mixtral; <c>mlp.experts.gate_up_proj_blocks</c>: GPT-OSS; per-expert <c>mlp.experts.N</c>
    /// with <c>q_norm</c>: Qwen3-MoE; <c>q_norm</c>: Qwen3; a <c>q_proj</c> bias: Qwen2; <c>q_proj</c>: Llama).
    /// </summary>
    /// <returns>The architecture, or null when neither says.</returns>
    public static GgufArchitecture? Detect(JsonElement? config, IEnumerable<string> tensorNames)
    {
        ArgumentNullException.ThrowIfNull(tensorNames);
        if (config is { ValueKind: JsonValueKind.Object } c && c.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String)
            return ForModelType(type.GetString()!);
        var names = tensorNames.ToArray();
        bool Any(string part) => names.Any(n => n.Contains(part, StringComparison.Ordinal));
        string? detected =
            Any(".block_sparse_moe.experts.") ? "mixtral"
            : Any(".mlp.experts.gate_up_proj_blocks") ? "gpt_oss"
            : Any(".mlp.experts.0.gate_proj.") && Any(".self_attn.q_norm.") ? "qwen3_moe"
            : Any(".self_attn.q_norm.") ? "qwen3"
            : Any(".self_attn.q_proj.bias") ? "qwen2"
            : Any(".self_attn.q_proj.weight") ? "llama"
            : null;
        return detected is null ? null : ForModelType(detected);
    }

    /// <summary>
    /// Where the checkpoint tensor <paramref name="name"/> goes, or null for a tensor this architecture does not have.
    /// Linear layers are named by their weight (<c>model.layers.0.mlp.experts.gate_up_proj.weight</c> for GPT-OSS's MXFP4
    /// <c>_blocks</c> / <c>_scales</c> pair), so GPT-OSS's interleaved <c>gate_up_proj</c> (and its bias) go to two tensors.
    /// </summary>
    /// <param name="name">The checkpoint tensor's name.</param>
    /// <param name="heads">The attention heads (<c>num_attention_heads</c>).</param>
    /// <param name="kvHeads">The key-value heads (<c>num_key_value_heads</c>).</param>
    public IReadOnlyList<GgufPlacement>? Place(string name, int heads, int kvHeads)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (name)
        {
            case "model.embed_tokens.weight": return [new("token_embd.weight", null, RowSelection.All, 0)];
            case "model.norm.weight": return [new("output_norm.weight", null, RowSelection.All, 0)];
            case "lm_head.weight": return [new("output.weight", null, RowSelection.All, 0)];
        }
        var match = s_layer.Match(name);
        if (!match.Success) return null;
        string block = "blk." + match.Groups[1].Value + ".", rest = match.Groups[2].Value;
        if (Name == "gpt-oss" && rest is "mlp.experts.gate_up_proj.weight" or "mlp.experts.gate_up_proj_bias")
        {
            string suffix = rest.EndsWith("_bias", StringComparison.Ordinal) ? "bias" : "weight";
            return [new(block + "ffn_gate_exps." + suffix, null, RowSelection.Even, 0), new(block + "ffn_up_exps." + suffix, null, RowSelection.Odd, 0)];
        }
        if (_layerNames.TryGetValue(rest, out var local))
        {
            int permute = !PermutesRotary ? 0 : local.StartsWith("attn_q.", StringComparison.Ordinal) ? heads : local.StartsWith("attn_k.", StringComparison.Ordinal) ? kvHeads : 0;
            return [new(block + local, null, RowSelection.All, permute)];
        }
        var expert = s_expert.Match(rest);
        if (expert.Success && _expertNames.TryGetValue(expert.Groups[3].Value, out var stacked)
            && (expert.Groups[1].Value == "block_sparse_moe") == (ModelType == "mixtral"))
        {
            return [new(block + stacked, int.Parse(expert.Groups[2].Value, CultureInfo.InvariantCulture), RowSelection.All, 0)];
        }
        return null;
    }

    /// <summary>
    /// The metadata llama.cpp reads for this architecture, from <paramref name="config"/> (<c>config.json</c>): context and
    /// embedding lengths, block count, feed-forward lengths, heads, key / value lengths, RMS-norm epsilon, RoPE base and
    /// scaling, experts, GPT-OSS's sliding window; then <paramref name="tokenizer"/>'s <c>tokenizer.ggml.*</c>.
    /// </summary>
    /// <exception cref="QuantFormatException">A value llama.cpp needs is missing from the config or not a positive number.</exception>
    public GgufMetadata CreateMetadata(JsonElement config, GgufTokenizer tokenizer, string? name = null, bool quantized = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var c = new ConfigReader(config);
        int hidden = c.Int("hidden_size"), heads = c.Int("num_attention_heads"), layers = c.Int("num_hidden_layers");
        int kvHeads = c.OptionalInt("num_key_value_heads") ?? heads;
        int headDim = c.OptionalInt("head_dim") ?? hidden / heads;
        int vocab = c.Int("vocab_size");
        if (tokenizer.Tokens.Length != vocab)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"The tokenizer has {tokenizer.Tokens.Length} tokens; config.json's vocab_size is {vocab}."));
        string a = Name;
        var m = new GgufMetadata().Add("general.architecture", a);
        if (name is not null) m.Add("general.name", name);
        if (quantized) m.Add("general.quantization_version", 2u);
        m.Add($"{a}.vocab_size", (uint)vocab)
            .Add($"{a}.context_length", (uint)(c.OptionalInt("max_position_embeddings") ?? 4096))
            .Add($"{a}.embedding_length", (uint)hidden)
            .Add($"{a}.block_count", (uint)layers);
        if (c.OptionalInt("intermediate_size") is int ff) m.Add($"{a}.feed_forward_length", (uint)ff);
        m.Add($"{a}.attention.head_count", (uint)heads)
            .Add($"{a}.attention.head_count_kv", (uint)kvHeads)
            .Add($"{a}.attention.key_length", (uint)headDim)
            .Add($"{a}.attention.value_length", (uint)headDim)
            .Add($"{a}.attention.layer_norm_rms_epsilon", (float)(c.OptionalDouble("rms_norm_eps") ?? 1e-5))
            .Add($"{a}.rope.dimension_count", (uint)headDim)
            .Add($"{a}.rope.freq_base", (float)(c.OptionalDouble("rope_theta") ?? 10000.0));
        if (HasExperts)
        {
            int experts = c.OptionalInt("num_local_experts") ?? c.Int("num_experts");
            int used = c.OptionalInt("num_experts_per_tok") ?? c.Int("experts_per_token");
            m.Add($"{a}.expert_count", (uint)experts).Add($"{a}.expert_used_count", (uint)used);
            if (ModelType == "qwen3_moe") m.Add($"{a}.expert_feed_forward_length", (uint)c.Int("moe_intermediate_size"));
            if (ModelType == "gpt_oss") m.Add($"{a}.expert_feed_forward_length", (uint)c.Int("intermediate_size"));
        }
        if (ModelType == "gpt_oss") m.Add($"{a}.attention.sliding_window", (uint)c.Int("sliding_window"));
        if (config.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind == JsonValueKind.Object)
        {
            var s = new ConfigReader(scaling);
            string? type = s.OptionalString("rope_type") ?? s.OptionalString("type");
            if (type is "yarn" or "linear" && s.OptionalDouble("factor") is double factor)
            {
                m.Add($"{a}.rope.scaling.type", type).Add($"{a}.rope.scaling.factor", (float)factor);
                if (s.OptionalInt("original_max_position_embeddings") is int original) m.Add($"{a}.rope.scaling.original_context_length", (uint)original);
            }
        }
        tokenizer.AddTo(m);
        return m;
    }

    /// <summary>The query heads and key-value heads config.json gives.</summary>
    public static (int Heads, int KvHeads) Heads(JsonElement config)
    {
        var c = new ConfigReader(config);
        int heads = c.Int("num_attention_heads");
        return (heads, c.OptionalInt("num_key_value_heads") ?? heads);
    }

    /// <summary>Typed reads of config.json values, each failure a <see cref="QuantFormatException"/> naming the key.</summary>
    private readonly struct ConfigReader(JsonElement element)
    {
        public int Int(string key) => OptionalInt(key) ?? throw new QuantFormatException($"config.json has no '{key}', which llama.cpp needs.");

        public int? OptionalInt(string key)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i > 0) return i;
            throw new QuantFormatException($"config.json: '{key}' is {v}; it must be a positive integer.");
        }

        public double? OptionalDouble(string key)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d > 0 && double.IsFinite(d)) return d;
            throw new QuantFormatException($"config.json: '{key}' is {v}; it must be a positive number.");
        }

        public string? OptionalString(string key) =>
            element.ValueKind == JsonValueKind.Object && element.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }
}
