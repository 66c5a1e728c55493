using System;
using System.Globalization;
using System.Text.Json;
using Quant.Runtime.Checkpoints;

namespace Quant.Runtime.Loading;

/// <summary>
/// How a pre-quantized checkpoint stores its linear weights (mistralrs-quant's <c>QuantizedConfig</c>), read from
/// <c>config.json</c>'s <c>quantization_config</c> (or MLX's <c>quantization</c>). Null means a dense checkpoint.
/// </summary>
public abstract record QuantizedConfig
{
    private QuantizedConfig() { }

    /// <summary>GPT-OSS MXFP4: <c>blocks</c> / <c>scales</c> per layer, <c>_blocks</c> / <c>_scales</c> for packed experts.</summary>
    public sealed record Mxfp4 : QuantizedConfig;

    /// <summary>Blockwise FP8 (DeepSeek-V3, Qwen3-FP8): <c>weight</c> F8E4M3 and <c>weight_scale_inv</c> per tile.</summary>
    /// <param name="BlockRows">Tile rows (128).</param>
    /// <param name="BlockColumns">Tile columns (128).</param>
    public sealed record Fp8(int BlockRows, int BlockColumns) : QuantizedConfig;

    /// <summary>MLX affine quantization: <c>weight</c> U32 codes, <c>scales</c>, <c>biases</c>.</summary>
    public sealed record Afq(int Bits, int GroupSize) : QuantizedConfig;

    /// <summary>GPTQ (v1 / v2) or AWQ: <c>qweight</c>, <c>qzeros</c>, <c>scales</c>, <c>g_idx</c>.</summary>
    public sealed record GptqAwq(GptqConfig Config) : QuantizedConfig;

    /// <summary>bitsandbytes 4-bit (NF4 / FP4, optionally with a double-quantized absmax): <c>weight</c>, <c>weight.absmax</c>, ...</summary>
    public sealed record Bitsandbytes : QuantizedConfig;

    /// <summary>Reads the quantization of a <c>config.json</c>, or null for a dense checkpoint.</summary>
    /// <exception cref="QuantFormatException">The quantization config is malformed or of a method this runtime does not load.</exception>
    public static QuantizedConfig? FromConfig(JsonElement config)
    {
        if (config.ValueKind != JsonValueKind.Object) return null;
        if (config.TryGetProperty("quantization", out var mlx) && mlx.ValueKind == JsonValueKind.Object && !config.TryGetProperty("quantization_config", out _))
            return new Afq(Int(mlx, "bits", "quantization"), Int(mlx, "group_size", "quantization"));
        if (!config.TryGetProperty("quantization_config", out var q) || q.ValueKind != JsonValueKind.Object) return null;
        string method = q.TryGetProperty("quant_method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "";
        switch (method)
        {
            case "mxfp4":
                return new Mxfp4();
            case "fp8":
            {
                if (!q.TryGetProperty("weight_block_size", out var b) || b.ValueKind != JsonValueKind.Array || b.GetArrayLength() != 2)
                    throw new QuantFormatException("quantization_config: fp8 needs 'weight_block_size' [rows, columns] (per-tensor FP8 checkpoints are not loaded yet).");
                return new Fp8(b[0].GetInt32(), b[1].GetInt32());
            }
            case "gptq":
            {
                bool v2 = q.TryGetProperty("checkpoint_format", out var f) && f.ValueKind == JsonValueKind.String && f.GetString() == "gptq_v2";
                int bits = Int(q, "bits", "quantization_config"), group = Int(q, "group_size", "quantization_config");
                return new GptqAwq(v2 ? GptqConfig.GptqV2(bits, group) : GptqConfig.GptqV1(bits, group));
            }
            case "bitsandbytes":
                if (q.TryGetProperty("load_in_8bit", out var e8) && e8.ValueKind == JsonValueKind.True)
                    throw new QuantFormatException("quantization_config: bitsandbytes 8-bit (LLM.int8) checkpoints are not loaded; 4-bit ones are.");
                return new Bitsandbytes();
            case "awq":
                return new GptqAwq(GptqConfig.Awq(Int(q, "group_size", "quantization_config")));
            default:
                throw new QuantFormatException($"quantization_config: quant_method '{method}' is not one this runtime loads (mxfp4, fp8 with weight_block_size, gptq, awq, bitsandbytes 4-bit; MLX 'quantization').");
        }
    }

    private static int Int(JsonElement element, string key, string where) =>
        element.TryGetProperty(key, out var v) && v.TryGetInt32(out int i) ? i
        : throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: '{key}' is missing or not an integer."));
}
