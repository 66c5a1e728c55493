using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using Quant.Kernels;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Checkpoints;

/// <summary>
/// bitsandbytes 4-bit checkpoints (NF4 and FP4, <c>Params4bit</c> as transformers saves them), with or without the
/// double-quantized absmax: <c>weight</c> U8 <c>[N*K/2, 1]</c>, <c>weight.absmax</c> (F32 <c>[N*K/64]</c>, or U8 codes when
/// nested), <c>weight.quant_map</c> F32 <c>[16]</c>, <c>weight.nested_absmax</c> F32 <c>[ceil(blocks/256)]</c>,
/// <c>weight.nested_quant_map</c> F32 <c>[256]</c> and <c>weight.quant_state.bitsandbytes__nf4</c> (the rest of the quant
/// state as JSON bytes: quant_type, blocksize, shape, dtype, nested_blocksize, nested_offset).
/// </summary>
/// <remarks>
/// The 4-bit bytes and the blocks of 64 are those of the <c>nf4</c> / <c>fp4</c> formats (row-major blocks, first element
/// in the high nibble), so reading copies them. A nested absmax is expanded exactly as bitsandbytes does:
/// <c>absmax[i] = nested_quant_map[code[i]] * nested_absmax[i / 256] + nested_offset</c>, in float32. Writing with
/// double quantization stores the absmax minus its mean, quantized per 256 to the nearest value of bitsandbytes'
/// signed dynamic map (computed here; the map is stored in the file, so readers use the values written).
/// </remarks>
public static class BnbWeight
{
    /// <summary>The state keys a checkpoint may name the quant state tensor by.</summary>
    public static readonly string[] StateSuffixes = ["quant_state.bitsandbytes__nf4", "quant_state.bitsandbytes__fp4"];

    /// <summary>Reads a 4-bit layer at <paramref name="vb"/>'s prefix into an <c>nf4</c> or <c>fp4</c> matrix <c>[N, K]</c>.</summary>
    /// <exception cref="QuantFormatException">A tensor is missing or inconsistent with the state (the message names it).</exception>
    public static QuantMatrix Read(ShardedVarBuilder vb, int outDim, int inDim)
    {
        ArgumentNullException.ThrowIfNull(vb);
        string? stateName = StateSuffixes.Select(s => "weight." + s).FirstOrDefault(vb.Contains)
            ?? throw new QuantFormatException($"{vb.Prefix}: no 'weight.quant_state.bitsandbytes__nf4' (or __fp4) tensor; this is not a bitsandbytes 4-bit layer.");
        using var state = ParseState(vb.GetUnchecked(stateName), vb.Join(stateName));
        var root = state.RootElement;
        string quantType = Str(root, "quant_type", stateName);
        int blockSize = Int(root, "blocksize", stateName);
        if (root.TryGetProperty("shape", out var shapeElement) && shapeElement.ValueKind == JsonValueKind.Array)
        {
            var shape = shapeElement.EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (shape.Length != 2 || shape[0] != outDim || shape[1] != inDim)
                throw new QuantFormatException($"{vb.Join(stateName)}: the state's shape [{string.Join(", ", shape)}] is not the layer's [{outDim}, {inDim}].");
        }
        QuantCatalog.EnsureRegistered();
        var format = quantType switch
        {
            "nf4" => QuantFormatRegistry.Get("nf4").Info,
            "fp4" => QuantFormatRegistry.Get("fp4").Info,
            _ => throw new QuantFormatException($"{vb.Join(stateName)}: quant_type '{quantType}' is not nf4 or fp4."),
        };
        if (blockSize != format.BlockSize)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{vb.Join(stateName)}: blocksize {blockSize}; the {quantType} format holds blocks of {format.BlockSize}."));
        format.CheckColumns(inDim);
        long elements = (long)outDim * inDim;
        int blocks = checked((int)(elements / blockSize));

        var packed = vb.GetUnchecked("weight");
        if (packed.DType != DType.U8 || packed.ElementCount != elements / 2)
            throw new QuantFormatException($"Tensor '{vb.Join("weight")}' must be U8 with {elements / 2} bytes (two codes each); it is {packed}.");
        var map = vb.Get([16], "weight.quant_map", default, DType.F32).AsSpan<float>();
        var table = CodebookOf(format);
        for (int i = 0; i < 16; i++)
            if (BitConverter.SingleToInt32Bits(map[i]) != BitConverter.SingleToInt32Bits(table[i]) && Math.Abs(map[i] - table[i]) > 1e-6f)
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"Tensor '{vb.Join("weight.quant_map")}' entry {i} is {map[i]}; the {quantType} table has {table[i]}."));

        var absmax = new float[blocks];
        var stored = vb.GetUnchecked("weight.absmax");
        if (stored.ElementCount != blocks) throw new QuantFormatException($"Tensor '{vb.Join("weight.absmax")}' has {stored.ElementCount} values; {blocks} blocks need one each.");
        if (stored.DType == DType.U8)
        {
            int nestedBlock = Int(root, "nested_blocksize", stateName);
            if (nestedBlock <= 0) throw new QuantFormatException($"{vb.Join(stateName)}: nested_blocksize {nestedBlock} is not positive.");
            float offset = root.TryGetProperty("nested_offset", out var o) && o.ValueKind == JsonValueKind.Number ? o.GetSingle()
                : throw new QuantFormatException($"{vb.Join(stateName)}: 'nested_offset' is missing.");
            int nestedCount = (blocks + nestedBlock - 1) / nestedBlock;
            var nested = vb.Get([nestedCount], "weight.nested_absmax", default, DType.F32).AsSpan<float>();
            var nestedMap = vb.Get([256], "weight.nested_quant_map", default, DType.F32).AsSpan<float>();
            var codes = stored.AsSpan<byte>();
            for (int i = 0; i < blocks; i++) absmax[i] = nestedMap[codes[i]] * nested[i / nestedBlock] + offset;
        }
        else if (stored.DType == DType.F32)
        {
            stored.AsSpan<float>().CopyTo(absmax);
        }
        else throw new QuantFormatException($"Tensor '{vb.Join("weight.absmax")}' must be F32, or U8 codes with a nested absmax; it is {stored.DType}.");
        var absmaxBytes = new byte[blocks * 4];
        Buffer.BlockCopy(absmax, 0, absmaxBytes, 0, absmaxBytes.Length);
        return new QuantMatrix(format, outDim, inDim, [packed.Bytes.ToArray(), absmaxBytes]);
    }

    /// <summary>
    /// The checkpoint tensors of an <c>nf4</c> / <c>fp4</c> matrix, named as transformers saves them under a layer prefix
    /// (<c>weight</c>, <c>weight.absmax</c>, ...), with the absmax double-quantized when <paramref name="doubleQuant"/>.
    /// </summary>
    /// <param name="matrix">The weight.</param>
    /// <param name="doubleQuant">Whether to store the absmax as 8-bit codes with a nested absmax per 256 blocks.</param>
    /// <param name="dtype">The compute dtype the state records (<c>bfloat16</c>, <c>float16</c>, <c>float32</c>).</param>
    public static Dictionary<string, HostTensor> Write(QuantMatrix matrix, bool doubleQuant, string dtype = "bfloat16")
    {
        ArgumentNullException.ThrowIfNull(matrix);
        string quantType = matrix.Format.Name is "nf4" or "fp4" ? matrix.Format.Name : throw new ArgumentException($"Format '{matrix.Format.Name}' is not nf4 or fp4.", nameof(matrix));
        int blocks = checked((int)((long)matrix.Rows * matrix.Columns / matrix.Format.BlockSize));
        var absmax = new float[blocks];
        Buffer.BlockCopy(matrix.Plane(1).ToArray(), 0, absmax, 0, blocks * 4);
        var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal)
        {
            ["weight"] = HostTensor.FromOwnedBytes(DType.U8, [(int)(matrix.Plane(0).Length), 1], matrix.Plane(0).ToArray()),
            ["weight.quant_map"] = HostTensor.FromArray(CodebookOf(matrix.Format).ToArray(), 16),
        };
        var state = new Dictionary<string, object>
        {
            ["quant_type"] = quantType,
            ["blocksize"] = matrix.Format.BlockSize,
            ["dtype"] = dtype,
            ["shape"] = new[] { matrix.Rows, matrix.Columns },
        };
        if (doubleQuant)
        {
            const int NestedBlock = 256;
            double sum = 0;
            foreach (float a in absmax) sum += a;
            float offset = (float)(sum / blocks);
            var map = DynamicMap();
            int nestedCount = (blocks + NestedBlock - 1) / NestedBlock;
            var nested = new float[nestedCount];
            var codes = new byte[blocks];
            for (int b = 0; b < nestedCount; b++)
            {
                int start = b * NestedBlock, end = Math.Min(start + NestedBlock, blocks);
                float max = 0f;
                for (int i = start; i < end; i++) max = MathF.Max(max, MathF.Abs(absmax[i] - offset));
                nested[b] = max;
                float inverse = max == 0f ? 0f : 1f / max;
                for (int i = start; i < end; i++) codes[i] = (byte)Nearest(map, (absmax[i] - offset) * inverse);
            }
            tensors["weight.absmax"] = HostTensor.FromArray(codes, blocks);
            tensors["weight.nested_absmax"] = HostTensor.FromArray(nested, nestedCount);
            tensors["weight.nested_quant_map"] = HostTensor.FromArray(map, 256);
            state["nested_blocksize"] = NestedBlock;
            state["nested_offset"] = offset;
            state["nested_dtype"] = "float32";
        }
        else
        {
            tensors["weight.absmax"] = HostTensor.FromArray(absmax, blocks);
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(state);
        tensors[$"weight.quant_state.bitsandbytes__{quantType}"] = HostTensor.FromArray(json, json.Length);
        return tensors;
    }

    /// <summary>
    /// bitsandbytes' signed dynamic 8-bit map (<c>create_dynamic_map(signed=True)</c>): for i in 0..6, the 2^i midpoints of
    /// <c>linspace(0.1, 1, 2^i + 1)</c> times 10^(i - 6), with both signs, then 0 and 1, sorted: 256 values.
    /// </summary>
    public static float[] DynamicMap()
    {
        var values = new List<float> { 0f, 1f };
        for (int i = 0; i < 7; i++)
        {
            int items = (1 << i) + 1;
            float scale = (float)Math.Pow(10, i - 6);
            for (int j = 0; j < items - 1; j++)
            {
                float a = 0.1f + 0.9f * j / (items - 1), b = 0.1f + 0.9f * (j + 1) / (items - 1);
                float mean = (a + b) / 2f;
                values.Add(scale * mean);
                values.Add(-scale * mean);
            }
        }
        values.Sort();
        return values.ToArray();
    }

    private static int Nearest(float[] sortedMap, float value)
    {
        int best = 0;
        float error = MathF.Abs(sortedMap[0] - value);
        for (int i = 1; i < sortedMap.Length; i++)
        {
            float e = MathF.Abs(sortedMap[i] - value);
            if (e < error)
            {
                error = e;
                best = i;
            }
        }
        return best;
    }

    private static ReadOnlySpan<float> CodebookOf(QuantFormatInfo format)
    {
        // The nf4 / fp4 codebooks, as their declarations state them (the generated Info carries no table).
        return format.Name == "nf4" ? Nf4Table : Fp4Table;
    }

    private static readonly float[] Nf4Table =
    [
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
        -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
        0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
    ];

    private static readonly float[] Fp4Table =
    [
        0f, 0.005208333333f, 0.66666667f, 1f, 0.33333333f, 0.5f, 0.16666667f, 0.25f,
        -0f, -0.005208333333f, -0.66666667f, -1f, -0.33333333f, -0.5f, -0.16666667f, -0.25f,
    ];

    private static JsonDocument ParseState(HostTensor tensor, string name)
    {
        if (tensor.DType != DType.U8) throw new QuantFormatException($"Tensor '{name}' must be U8 JSON bytes; it is {tensor.DType}.");
        try
        {
            var bytes = tensor.Bytes;
            if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new QuantFormatException($"Tensor '{name}' is not UTF-8 JSON.");
            var document = JsonDocument.Parse(bytes.ToArray());
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new QuantFormatException($"Tensor '{name}' must hold a JSON object.");
            }
            return document;
        }
        catch (JsonException e)
        {
            throw new QuantFormatException($"Tensor '{name}' is not valid JSON: {e.Message}", e);
        }
    }

    private static string Str(JsonElement root, string key, string where) =>
        root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new QuantFormatException($"{where}: '{key}' is missing or not a string.");

    private static int Int(JsonElement root, string key, string where) =>
        root.TryGetProperty(key, out var v) && v.TryGetInt32(out int i) ? i : throw new QuantFormatException($"{where}: '{key}' is missing or not an integer.");
}
