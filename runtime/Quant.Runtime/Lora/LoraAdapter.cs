using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Lora;

/// <summary>
/// A LoRA adapter in the PEFT layout: <c>adapter_config.json</c> (<c>r</c>, <c>lora_alpha</c>, <c>target_modules</c>) and
/// <c>adapter_model.safetensors</c> with <c>base_model.model.{layer}.lora_A.weight</c> <c>[r, in]</c> and
/// <c>lora_B.weight</c> <c>[out, r]</c>. Its delta for a layer is <c>(B A) * alpha / r</c>.
/// </summary>
public sealed class LoraAdapter : IDisposable
{
    private readonly ShardedVarBuilder _weights;
    private readonly Regex? _targetPattern;

    /// <summary>Creates an adapter over weights already loaded.</summary>
    /// <param name="weights">The adapter's tensors.</param>
    /// <param name="rank"><c>r</c>.</param>
    /// <param name="alpha"><c>lora_alpha</c>.</param>
    /// <param name="targetModules">Module names (the last component of a layer name, e.g. <c>q_proj</c>).</param>
    /// <param name="targetPattern">Or a regular expression that must match the whole layer name (PEFT's string form).</param>
    /// <param name="prefix">What the tensor names put before the layer name (<c>base_model.model.</c>).</param>
    public LoraAdapter(ShardedVarBuilder weights, int rank, float alpha, IReadOnlyList<string> targetModules, string? targetPattern = null, string prefix = "base_model.model.")
    {
        _weights = weights ?? throw new ArgumentNullException(nameof(weights));
        if (rank < 1) throw new QuantFormatException($"A LoRA rank must be positive; got {rank}.");
        Rank = rank;
        Alpha = alpha;
        TargetModules = targetModules ?? [];
        _targetPattern = targetPattern is null ? null : new Regex("^(?:" + targetPattern + ")$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        Prefix = prefix;
    }

    /// <summary><c>r</c>.</summary>
    public int Rank { get; }

    /// <summary><c>lora_alpha</c>.</summary>
    public float Alpha { get; }

    /// <summary><c>alpha / r</c>, the factor of the delta.</summary>
    public float Scale => Alpha / Rank;

    /// <summary>The module names this adapter targets.</summary>
    public IReadOnlyList<string> TargetModules { get; }

    /// <summary>The prefix of its tensor names.</summary>
    public string Prefix { get; }

    /// <summary>Loads a PEFT adapter folder.</summary>
    /// <exception cref="QuantFormatException">The config is missing or malformed, or the weights are not valid safetensors.</exception>
    public static LoraAdapter Load(string directory)
    {
        string configPath = Path.Combine(directory, "adapter_config.json");
        if (!File.Exists(configPath)) throw new QuantFormatException($"{directory} has no adapter_config.json.");
        int rank;
        float alpha;
        var modules = new List<string>();
        string? pattern = null;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(configPath));
            var root = document.RootElement;
            rank = root.TryGetProperty("r", out var r) && r.TryGetInt32(out int rv) ? rv : throw new QuantFormatException($"{configPath}: 'r' is missing or not an integer.");
            alpha = root.TryGetProperty("lora_alpha", out var a) && a.ValueKind == JsonValueKind.Number ? a.GetSingle() : rank;
            if (root.TryGetProperty("target_modules", out var t))
            {
                if (t.ValueKind == JsonValueKind.Array) modules.AddRange(t.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!));
                else if (t.ValueKind == JsonValueKind.String) pattern = t.GetString();
            }
            if (root.TryGetProperty("fan_in_fan_out", out var f) && f.ValueKind == JsonValueKind.True)
                throw new QuantFormatException($"{configPath}: fan_in_fan_out adapters (Conv1D layers) are not supported.");
        }
        catch (JsonException e)
        {
            throw new QuantFormatException($"{configPath} is not valid JSON: {e.Message}", e);
        }
        string weights = Path.Combine(directory, "adapter_model.safetensors");
        if (!File.Exists(weights)) throw new QuantFormatException($"{directory} has no adapter_model.safetensors.");
        return new LoraAdapter(ShardedVarBuilder.FromFiles([weights]), rank, alpha, modules, pattern);
    }

    /// <summary>Whether the adapter targets the layer named <paramref name="layer"/> (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public bool Targets(string layer)
    {
        if (_targetPattern is not null) return _targetPattern.IsMatch(layer);
        string module = layer[(layer.LastIndexOf('.') + 1)..];
        return TargetModules.Contains(module) && _weights.Contains($"{Prefix}{layer}.lora_A.weight");
    }

    /// <summary>
    /// The delta <c>(B A) * alpha / r</c> of a layer with weight <c>[outDim, inDim]</c>, cut to <paramref name="shard"/>
    /// (only the shard's rows of B or columns of A are read), or null when the adapter does not target it.
    /// </summary>
    /// <exception cref="QuantFormatException">The adapter's tensors for the layer have other shapes.</exception>
    public float[]? Delta(string layer, int inDim, int outDim, Shard shard = default)
    {
        if (!Targets(layer)) return null;
        var vb = _weights.Pp(Prefix + layer);
        if (!vb.Contains("lora_A.weight")) return null;
        var range = shard.Resolve([outDim, inDim], $"LoRA delta of '{layer}'");
        var shardA = range is { Dim: 1 } r1 ? Shard.Offset(1, r1.Start, r1.Length) : Shard.None;
        var shardB = range is { Dim: 0 } r0 ? Shard.Offset(0, r0.Start, r0.Length) : Shard.None;
        var a = vb.Get([Rank, inDim], "lora_A.weight", shardA, DType.F32).AsSpan<float>();
        var b = vb.Get([outDim, Rank], "lora_B.weight", shardB, DType.F32).AsSpan<float>();
        int rows = b.Length / Rank, columns = a.Length / Rank;
        var delta = new float[(long)rows * columns];
        float scale = Scale;
        for (int o = 0; o < rows; o++)
        {
            var row = delta.AsSpan(o * columns, columns);
            for (int k = 0; k < Rank; k++)
            {
                float bk = b[o * Rank + k] * scale;
                if (bk == 0f) continue;
                var ak = a.Slice(k * columns, columns);
                for (int i = 0; i < columns; i++) row[i] += bk * ak[i];
            }
        }
        return delta;
    }

    /// <inheritdoc />
    public void Dispose() => _weights.Dispose();
}

/// <summary>The adapters applied while a model loads; their deltas add up.</summary>
public sealed class LoraSet(IReadOnlyList<LoraAdapter> adapters)
{
    /// <summary>The adapters.</summary>
    public IReadOnlyList<LoraAdapter> Adapters { get; } = adapters ?? throw new ArgumentNullException(nameof(adapters));

    /// <summary>
    /// mistralrs-quant's <c>merge_lora_weights</c>: the weight (already cut to <paramref name="shard"/>) plus every
    /// targeting adapter's delta cut the same way; the same tensor when no adapter targets the layer.
    /// </summary>
    public HostTensor Merge(string layer, HostTensor weight, int inDim, int outDim, Shard shard = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        float[]? merged = null;
        foreach (var adapter in Adapters)
        {
            var delta = adapter.Delta(layer, inDim, outDim, shard);
            if (delta is null) continue;
            if (delta.Length != weight.ElementCount)
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"LoRA delta of '{layer}' has {delta.Length} values; the weight {weight} has {weight.ElementCount}."));
            merged ??= weight.ToFloat32Array();
            for (int i = 0; i < merged.Length; i++) merged[i] += delta[i];
        }
        return merged is null ? weight : HostTensor.FromArray(merged, weight.Dims()).ToDType(weight.DType);
    }
}
