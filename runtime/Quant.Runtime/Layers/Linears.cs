using System;
using System.Globalization;
using System.Runtime.InteropServices;
using Quant.Kernels;
using Quant.Runtime.Checkpoints;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Layers;

/// <summary>
/// Loading one linear layer's weight from a checkpoint, by the names the seeds use, for every storage a checkpoint
/// may have (dense, GPT-OSS MXFP4, blockwise FP8, MLX AFQ, GPTQ / AWQ), with LoRA merged into dense weights and
/// immediate ISQ applied as <see cref="ShardedVarBuilder.Options"/> say. The tensor-parallel layers build on it.
/// </summary>
public static class Linears
{
    /// <summary>
    /// The weight of the layer at <paramref name="vb"/>'s prefix, <c>[outDim, inDim]</c> cut to <paramref name="shard"/>,
    /// with the bias (<c>[outDim]</c>, cut the same way when the shard is on dimension 0) when <paramref name="bias"/>.
    /// A dense layer whose weight is missing becomes a <see cref="DummyLayer"/> (UQFF loading fills it later).
    /// </summary>
    /// <exception cref="QuantFormatException">A tensor is missing or has another shape, or the shard does not fit the storage.</exception>
    public static IQuantMethod Load(int inDim, int outDim, QuantizedConfig? config, bool bias, Shard shard, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(vb);
        var range = shard.Resolve([outDim, inDim], vb.Prefix);
        HostTensor? b = bias ? vb.Get([outDim], "bias", range is { Dim: 0 } ? shard : Shard.None, DType.F32) : null;
        var threads = vb.Options.Threads;
        switch (config)
        {
            case null:
            {
                if (!vb.Contains("weight")) return new DummyLayer(vb.Prefix, inDim, outDim);
                var weight = vb.Get([outDim, inDim], "weight", shard);
                if (!weight.DType.IsFloat() || weight.DType is DType.F8E4M3 or DType.F8E5M2 or DType.F64)
                    throw new QuantFormatException($"Tensor '{vb.Join("weight")}' is {weight.DType}; a dense layer without a quantization config is F32, F16 or BF16.");
                if (vb.Options.Lora is { } lora) weight = lora.Merge(vb.Prefix, weight, inDim, outDim, shard);
                var layer = new UnquantLinear(weight, b) { Threads = threads };
                return ApplyImmediateIsq(layer, vb, shard);
            }
            case QuantizedConfig.Mxfp4:
                return Mxfp4(inDim, outDim, shard, vb, b, threads);
            case QuantizedConfig.Fp8 fp8:
                return BlockwiseFp8(inDim, outDim, fp8, shard, vb, b, threads);
            case QuantizedConfig.Afq afq:
                RefuseShard(shard, "AFQ", vb);
                return Afq(inDim, outDim, afq, vb, b, threads);
            case QuantizedConfig.Bitsandbytes:
                RefuseShard(shard, "bitsandbytes", vb);
                return new QuantLinear(BnbWeight.Read(vb, outDim, inDim), b) { Threads = threads };
            case QuantizedConfig.GptqAwq gptq:
                RefuseShard(shard, "GPTQ / AWQ", vb);
                return Gptq(inDim, outDim, gptq.Config, vb, b, threads);
            default:
                throw new ArgumentOutOfRangeException(nameof(config), config, "Unknown quantization config.");
        }
    }

    /// <summary>
    /// Immediate ISQ (mistralrs-quant's <c>apply_immediate_isq</c>): when <see cref="LoadOptions.Isq"/> picks a format for
    /// the layer's name, the dense layer is quantized, on the scheduler when there is one (the layer then resolves on
    /// first use), with the layer's importance cut to the shard's input columns.
    /// </summary>
    public static IQuantMethod ApplyImmediateIsq(IQuantMethod layer, ShardedVarBuilder vb, Shard shard = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(vb);
        var options = vb.Options;
        if (options.Isq?.Resolve(vb.Prefix) is not { } target || layer is not UnquantLinear) return layer;
        ReadOnlyMemory<float> importance = default;
        if (options.Imatrix is { } imatrix && imatrix.TryGetValue(vb.Prefix, out var stats))
        {
            var values = stats.AsSpan<float>().ToArray();
            int k = stats.Dim(-1);
            var range = shard.Resolve([layer.Experts * layer.OutFeatures, k], vb.Prefix);
            if (range is { Dim: 1 } r && layer.InFeatures != k)
            {
                int experts = values.Length / k;
                var cut = new float[experts * r.Length];
                for (int e = 0; e < experts; e++) values.AsSpan(e * k + r.Start, r.Length).CopyTo(cut.AsSpan(e * r.Length));
                values = cut;
            }
            importance = values;
        }
        var request = new IsqRequest(target.Format, target.Rule, importance, options.Threads);
        return options.IsqScheduler is { } scheduler ? scheduler.Submit(vb.Prefix, layer, request) : layer.ApplyIsq(request);
    }

    private static void RefuseShard(Shard shard, string what, ShardedVarBuilder vb)
    {
        if (shard.Kind != ShardKind.None && !(shard.Kind == ShardKind.Simple && shard.WorldSize == 1))
            throw new QuantFormatException($"{vb.Prefix}: {what} checkpoints do not support tensor parallelism (shard {shard}); load them on one rank or re-quantize with ISQ.");
    }

    private static Mxfp4Layer Mxfp4(int inDim, int outDim, Shard shard, ShardedVarBuilder vb, HostTensor? bias, int threads)
    {
        if (inDim % Mxfp4Layer.BlockSize != 0) throw new QuantFormatException($"{vb.Prefix}: MXFP4 needs an input dimension that is a multiple of 32; got {inDim}.");
        var range = shard.Resolve([outDim, inDim], vb.Prefix);
        Shard blocks = Shard.None, scales = Shard.None;
        if (range is { Dim: 0 } r0)
        {
            blocks = scales = Shard.Offset(0, r0.Start, r0.Length);
        }
        else if (range is { Dim: 1 } r1)
        {
            if (r1.Start % 32 != 0 || r1.Length % 32 != 0) throw new QuantFormatException($"{vb.Prefix}: sharding the input dimension of MXFP4 needs whole blocks of 32; got [{r1.Start}, {r1.Start + r1.Length}).");
            blocks = Shard.Offset(1, r1.Start / 2, r1.Length / 2);
            scales = Shard.Offset(1, r1.Start / 32, r1.Length / 32);
        }
        var b = vb.Get([outDim, inDim / 2], "blocks", blocks, DType.U8);
        var s = vb.Get([outDim, inDim / 32], "scales", scales, DType.U8);
        return new Mxfp4Layer(b, s, bias) { Threads = threads };
    }

    private static QuantLinear BlockwiseFp8(int inDim, int outDim, QuantizedConfig.Fp8 config, Shard shard, ShardedVarBuilder vb, HostTensor? bias, int threads)
    {
        QuantCatalog.EnsureRegistered();
        var format = QuantFormatRegistry.Get("fp8_block").Info;
        if (config.BlockRows != format.TileRows || config.BlockColumns != format.BlockSize)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{vb.Prefix}: FP8 tiles of {config.BlockRows} x {config.BlockColumns} are not the fp8_block format's {format.TileRows} x {format.BlockSize}."));
        if (inDim % format.BlockSize != 0) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{vb.Prefix}: blockwise FP8 needs an input dimension that is a multiple of {format.BlockSize}; got {inDim}."));
        int tileRows = (outDim + format.TileRows - 1) / format.TileRows, tileColumns = inDim / format.BlockSize;
        var range = shard.Resolve([outDim, inDim], vb.Prefix);
        Shard scaleShard = Shard.None;
        int rows = outDim, columns = inDim;
        if (range is { } r)
        {
            int tile = r.Dim == 0 ? format.TileRows : format.BlockSize;
            if (r.Start % tile != 0 || (r.Length % tile != 0 && r.Start + r.Length != (r.Dim == 0 ? outDim : inDim)))
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{vb.Prefix}: a shard of blockwise FP8 must cut whole {format.TileRows} x {format.BlockSize} tiles; got [{r.Start}, {r.Start + r.Length}) of dimension {r.Dim}."));
            scaleShard = Shard.Offset(r.Dim, r.Start / tile, (r.Length + tile - 1) / tile);
            if (r.Dim == 0) rows = r.Length; else columns = r.Length;
        }
        var weight = vb.Get([outDim, inDim], "weight", shard, DType.F8E4M3);
        if (weight.DType != DType.F8E4M3) throw new QuantFormatException($"Tensor '{vb.Join("weight")}' is {weight.DType}; blockwise FP8 weights are F8_E4M3.");
        var scales = vb.Get([tileRows, tileColumns], "weight_scale_inv", scaleShard, DType.F32);
        var matrix = new QuantMatrix(format, rows, columns, [MemoryMarshal.AsMemory(weight.Memory), MemoryMarshal.AsMemory(scales.ToDType(DType.F32).Memory)]);
        return new QuantLinear(matrix, bias) { Threads = threads };
    }

    private static QuantLinear Afq(int inDim, int outDim, QuantizedConfig.Afq config, ShardedVarBuilder vb, HostTensor? bias, int threads)
    {
        QuantCatalog.EnsureRegistered();
        string name = string.Create(CultureInfo.InvariantCulture, $"afq{config.Bits}_g{config.GroupSize}");
        if (!QuantFormatRegistry.TryGet(name, out var entry)) throw new QuantFormatException($"{vb.Prefix}: MLX quantization with {config.Bits} bits and groups of {config.GroupSize} has no registered format ('{name}').");
        var format = entry.Info;
        format.CheckColumns(inDim);
        int words = format.RowBytes(0, inDim) / 4, groups = inDim / config.GroupSize;
        var codes = vb.Get([outDim, words], "weight", default, DType.U32);
        if (codes.DType != DType.U32) throw new QuantFormatException($"Tensor '{vb.Join("weight")}' is {codes.DType}; MLX quantized weights are U32.");
        var scales = vb.Get([outDim, groups], "scales", default, DType.F16);
        var biases = vb.Get([outDim, groups], "biases", default, DType.F16);
        var matrix = new QuantMatrix(format, outDim, inDim, [MemoryMarshal.AsMemory(codes.Memory), MemoryMarshal.AsMemory(scales.Memory), MemoryMarshal.AsMemory(biases.Memory)]);
        return new QuantLinear(matrix, bias) { Threads = threads };
    }

    private static GptqLayer Gptq(int inDim, int outDim, GptqConfig config, ShardedVarBuilder vb, HostTensor? bias, int threads)
    {
        var qweight = vb.GetUnchecked("qweight");
        var qzeros = vb.GetUnchecked("qzeros");
        var scales = vb.GetUnchecked("scales");
        if (qweight.DType != DType.I32 || qzeros.DType != DType.I32 || scales.DType != DType.F16)
            throw new QuantFormatException($"{vb.Prefix}: GPTQ / AWQ tensors are qweight I32, qzeros I32 and scales F16; got {qweight.DType}, {qzeros.DType}, {scales.DType}.");
        CheckpointTensor<int>? gIdx = null;
        if (vb.Contains("g_idx"))
        {
            var g = vb.GetUnchecked("g_idx");
            if (g.DType != DType.I32) throw new QuantFormatException($"Tensor '{vb.Join("g_idx")}' is {g.DType}; it must be I32.");
            gIdx = new CheckpointTensor<int>(g.AsSpan<int>().ToArray(), g.Dims());
        }
        var tensors = new GptqTensors(
            new CheckpointTensor<int>(qweight.AsSpan<int>().ToArray(), qweight.Dims()),
            new CheckpointTensor<int>(qzeros.AsSpan<int>().ToArray(), qzeros.Dims()),
            new CheckpointTensor<Half>(scales.AsSpan<Half>().ToArray(), scales.Dims()),
            gIdx);
        var weight = GptqWeight.FromCheckpoint(config, tensors);
        if (weight.InFeatures != inDim || weight.OutFeatures != outDim)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{vb.Prefix}: the GPTQ weight is [{weight.OutFeatures}, {weight.InFeatures}]; the layer expects [{outDim}, {inDim}]."));
        return new GptqLayer(weight, bias) { Threads = threads };
    }
}
