using System;
using System.Collections.Generic;

namespace Quant.Uqff;

/// <summary>
/// A parsed UQFF 0.2.0 layer blob: its type, its tensor records, and its optional bias. For a Gguf
/// layer the weight is the raw ggml blocks (<see cref="GgmlType"/>, <see cref="GgufDims"/>, <see cref="GgufData"/>).
/// </summary>
public sealed class UqffLayerBlob
{
    /// <summary>Creates a parsed blob.</summary>
    public UqffLayerBlob(UqffLayer type, IReadOnlyList<UqffTensor> tensors, UqffTensor? bias,
        int ggmlType = -1, int[]? ggufDims = null, byte[]? ggufData = null, uint version = UqffCodec.Version,
        float[]? scalars = null, uint dtypeCode = 0, int bits = 0, int groupSize = 0, HqqLayerConfig? hqq = null)
    {
        Hqq = hqq;
        Scalars = scalars ?? [];
        DTypeCode = dtypeCode;
        Bits = bits;
        GroupSize = groupSize;
        Type = type;
        Tensors = tensors;
        Bias = bias;
        GgmlType = ggmlType;
        GgufDims = ggufDims ?? [];
        GgufData = ggufData ?? [];
        Version = version;
    }

    /// <summary>The version word the blob starts with.</summary>
    public uint Version { get; }

    /// <summary>The layer type (byte 4).</summary>
    public UqffLayer Type { get; }

    /// <summary>The tensor records in blob order (Unquant: the weight; Mxfp4: blocks then scales; Afq and Hqq: codes, scales, biases or zeros). Empty for Gguf.</summary>
    public IReadOnlyList<UqffTensor> Tensors { get; }

    /// <summary>The bias record, or null.</summary>
    public UqffTensor? Bias { get; }

    /// <summary>The ggml type id of a Gguf layer, or -1.</summary>
    public int GgmlType { get; }

    /// <summary>The shape of a Gguf or F8Q8 layer's weight, slowest dimension first (<c>[N, K]</c>).</summary>
    public int[] GgufDims { get; }

    /// <summary>The raw blocks of a Gguf or F8Q8 layer.</summary>
    public byte[] GgufData { get; }

    /// <summary>The Fp8 layer's three scales: dequant_w_scale, dequant_x_scale, quant_scale.</summary>
    public float[] Scalars { get; }

    /// <summary>The Fp8 layer's trailing dtype code.</summary>
    public uint DTypeCode { get; }

    /// <summary>The Afq or Hqq layer's code bits.</summary>
    public int Bits { get; }

    /// <summary>The Afq or Hqq layer's group size.</summary>
    public int GroupSize { get; }

    /// <summary>The rest of an Hqq layer's header, or null for other layers.</summary>
    public HqqLayerConfig? Hqq { get; }
}

/// <summary>
/// The fields of a UQFF Hqq layer after its three tensor records, besides the bits and group size (mistral.rs'
/// <c>HqqConfig</c> and <c>w_shape</c>).
/// </summary>
/// <param name="Shape">The dequantized weight's shape, slowest dimension first (<c>[N, K]</c>).</param>
/// <param name="Axis">
/// 1: each group is <c>group_size</c> consecutive elements of the flattened weight (along a row when K is a
/// multiple of the group size). 0, mistral.rs' default: the weight is viewed as <c>[group_size, N * K / group_size]</c>
/// and each column of that view is a group, so a group strides through the weight.
/// </param>
/// <param name="OptimizationSteps">The optimiser's steps when the layer was made; 0 means mistral.rs' default (20).</param>
/// <param name="RoundZeros">The starting zero points were rounded to integers.</param>
/// <param name="ChannelWise">Groups have their own scale and zero point (always, for layers mistral.rs can dequantize).</param>
public sealed record HqqLayerConfig(int[] Shape, int Axis, uint OptimizationSteps, bool RoundZeros, bool ChannelWise);
