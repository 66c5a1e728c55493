using System;
using System.Runtime.InteropServices;
using Quant.Kernels;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Layers;

/// <summary>
/// mistralrs-quant's <c>MXFP4Layer</c>: MXFP4 weights in the GPT-OSS checkpoint layout (blocks <c>[N, K/2]</c>
/// U8, element 2i in the low nibble; E8M0 scales <c>[N, K/32]</c> U8), or stacked experts (<c>[E, N, K/2]</c>,
/// <c>[E, N, K/32]</c>), with an optional bias (<c>[N]</c> / <c>[E, N]</c>). The checkpoint's bytes are used in place.
/// </summary>
public sealed class Mxfp4Layer : QuantLinear
{
    /// <summary>Elements per E8M0 scale.</summary>
    public const int BlockSize = 32;

    /// <summary>Wraps checkpoint tensors: <paramref name="blocks"/> U8 <c>[N, K/2]</c> or <c>[E, N, K/2]</c>, <paramref name="scales"/> U8 <c>[N, K/32]</c> or <c>[E, N, K/32]</c>.</summary>
    /// <exception cref="QuantFormatException">The dtypes or shapes do not agree.</exception>
    public Mxfp4Layer(HostTensor blocks, HostTensor scales, HostTensor? bias = null)
        : base(Matrix(blocks, scales), bias)
    {
    }

    /// <summary>Wraps a quantized mxfp4 matrix.</summary>
    public Mxfp4Layer(QuantMatrix weight, HostTensor? bias = null) : base(CheckFormat(weight), bias)
    {
    }

    /// <inheritdoc />
    public override string Name => "mxfp4-layer";

    /// <summary>
    /// <c>linear_b</c>: loads <c>blocks</c> <c>[out, in/2]</c>, <c>scales</c> <c>[out, in/32]</c> and, when
    /// <paramref name="bias"/>, <c>bias</c> <c>[out]</c> under <paramref name="vb"/>'s prefix.
    /// </summary>
    public static Mxfp4Layer LinearB(int inDim, int outDim, bool bias, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(vb);
        CheckIn(inDim);
        var blocks = vb.Get([outDim, inDim / 2], "blocks", default, DType.U8);
        var scales = vb.Get([outDim, inDim / BlockSize], "scales", default, DType.U8);
        return new Mxfp4Layer(blocks, scales, bias ? vb.Get([outDim], "bias", default, DType.F32) : null);
    }

    /// <summary><c>packed_linear_b</c>: the same for <paramref name="experts"/> stacked experts (<c>[E, out, in/2]</c>, <c>[E, out, in/32]</c>, bias <c>[E, out]</c>).</summary>
    public static Mxfp4Layer PackedLinearB(int experts, int inDim, int outDim, bool bias, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(vb);
        CheckIn(inDim);
        var blocks = vb.Get([experts, outDim, inDim / 2], "blocks", default, DType.U8);
        var scales = vb.Get([experts, outDim, inDim / BlockSize], "scales", default, DType.U8);
        return new Mxfp4Layer(blocks, scales, bias ? vb.Get([experts, outDim], "bias", default, DType.F32) : null);
    }

    /// <summary>
    /// <c>packed_gptoss_linear</c>: GPT-OSS experts, <c>{name}_blocks</c> U8 <c>[E, out, in/32, 16]</c>,
    /// <c>{name}_scales</c> U8 <c>[E, out, in/32]</c> and <c>{name}_bias</c> <c>[E, out]</c>; a shard may cut the output
    /// dimension (dim 1) or the input dimension (dim 2, in whole blocks of 32).
    /// </summary>
    public static Mxfp4Layer PackedGptOssLinear(int experts, int inDim, int outDim, bool bias, string name, ShardedVarBuilder vb, Shard shard = default, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(vb);
        CheckIn(inDim);
        int nBlocks = inDim / BlockSize;
        var full = new[] { experts, outDim, nBlocks, 16 };
        var blockShard = shard;
        var scaleShard = shard;
        var biasShard = Shard.None;
        if (shard.Kind != ShardKind.None)
        {
            // The shard is stated on the logical [E, out, in] weight: dim 1 cuts rows, dim 2 cuts whole blocks.
            var range = shard.Resolve([experts, outDim, inDim], $"{vb.Join(name)}_blocks");
            if (range is { } r)
            {
                if (r.Dim == 2)
                {
                    if (r.Start % BlockSize != 0 || r.Length % BlockSize != 0)
                        throw new QuantFormatException($"{vb.Join(name)}: sharding the input dimension of MXFP4 needs whole blocks of {BlockSize}; got [{r.Start}, {r.Start + r.Length}).");
                    blockShard = scaleShard = Shard.Offset(2, r.Start / BlockSize, r.Length / BlockSize);
                }
                else if (r.Dim == 1)
                {
                    blockShard = scaleShard = biasShard = Shard.Offset(1, r.Start, r.Length);
                }
                else
                {
                    blockShard = scaleShard = biasShard = Shard.Offset(0, r.Start, r.Length);
                }
            }
        }
        var blocks4 = vb.Get(full, name + "_blocks", blockShard, DType.U8);
        var blocks = blocks4.Reshape(blocks4.Dim(0), blocks4.Dim(1), blocks4.Dim(2) * 16);
        var scales = vb.Get([experts, outDim, nBlocks], name + "_scales", scaleShard, DType.U8);
        // A cut of the input dimension keeps the whole bias: the row-parallel owner adds it once, after the reduction.
        var b = bias ? vb.Get([experts, outDim], name + "_bias", biasShard, DType.F32) : null;
        return new Mxfp4Layer(blocks, scales, b) { Threads = threads };
    }

    private static void CheckIn(int inDim)
    {
        if (inDim <= 0 || inDim % BlockSize != 0) throw new QuantFormatException($"MXFP4 needs an input dimension that is a positive multiple of {BlockSize}; got {inDim}.");
    }

    private static QuantMatrix CheckFormat(QuantMatrix weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Format.Name != "mxfp4") throw new ArgumentException($"An Mxfp4Layer holds format 'mxfp4', not '{weight.Format.Name}'.", nameof(weight));
        return weight;
    }

    private static QuantMatrix Matrix(HostTensor blocks, HostTensor scales)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        ArgumentNullException.ThrowIfNull(scales);
        if (blocks.DType != DType.U8 || scales.DType != DType.U8) throw new QuantFormatException($"MXFP4 blocks and scales are U8; got {blocks.DType} and {scales.DType}.");
        if (blocks.Rank != scales.Rank || blocks.Rank is not (2 or 3))
            throw new QuantFormatException($"MXFP4 blocks {blocks} and scales {scales} must both be [N, ...] or [E, N, ...].");
        int experts = blocks.Rank == 3 ? blocks.Dim(0) : 1;
        int n = blocks.Dim(-2), packed = blocks.Dim(-1);
        int k = packed * 2;
        if (scales.Dim(-2) != n || (blocks.Rank == 3 && scales.Dim(0) != experts) || (long)scales.Dim(-1) * BlockSize != k)
            throw new QuantFormatException($"MXFP4 scales {scales} do not match blocks {blocks}: expected [{(experts > 1 ? experts + ", " : "")}{n}, {k / BlockSize}].");
        QuantCatalog.EnsureRegistered();
        var format = QuantFormatRegistry.Get("mxfp4").Info;
        return new QuantMatrix(format, experts * n, k, [MemoryMarshal.AsMemory(blocks.Memory), MemoryMarshal.AsMemory(scales.Memory)], experts);
    }
}
