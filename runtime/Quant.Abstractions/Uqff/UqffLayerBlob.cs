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
        float[]? scalars = null, uint dtypeCode = 0, int bits = 0, int groupSize = 0)
    {
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

    /// <summary>The tensor records in blob order (Unquant: the weight; Mxfp4: blocks then scales). Empty for Gguf.</summary>
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

    /// <summary>The Afq layer's code bits.</summary>
    public int Bits { get; }

    /// <summary>The Afq layer's group size.</summary>
    public int GroupSize { get; }
}
