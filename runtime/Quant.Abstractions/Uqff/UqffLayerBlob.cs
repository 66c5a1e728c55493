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
        int ggmlType = -1, int[]? ggufDims = null, byte[]? ggufData = null, uint version = UqffCodec.Version)
    {
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

    /// <summary>The shape of a Gguf layer's weight, slowest dimension first (<c>[N, K]</c>).</summary>
    public int[] GgufDims { get; }

    /// <summary>The raw ggml blocks of a Gguf layer.</summary>
    public byte[] GgufData { get; }
}
