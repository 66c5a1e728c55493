using System;
using System.Globalization;
using Quant.Runtime.Tensors;
using Quant.Uqff;

namespace Quant.Runtime.Layers;

/// <summary>Reading layers back from UQFF layer blobs: the counterpart of the seeds' <c>deserialize</c> / <c>deserialize_ext_bias</c>.</summary>
public static class QuantMethods
{
    /// <summary>The byte of a layer blob that holds its UQFF layer type.</summary>
    public const int TypeOffset = 4;

    /// <summary>The layer a blob holds, with its bias.</summary>
    /// <exception cref="QuantFormatException">The blob is corrupt or of a type no registered format reads.</exception>
    public static IQuantMethod Deserialize(ReadOnlySpan<byte> blob)
    {
        var (layer, bias) = DeserializeExtBias(blob);
        return bias is null ? layer : WithBias(layer, bias);
    }

    /// <summary>The layer a blob holds, without its bias, and the bias separately (for row-parallel layers, which add it after the reduction).</summary>
    /// <exception cref="QuantFormatException">The blob is corrupt or of a type no registered format reads.</exception>
    public static (IQuantMethod Layer, HostTensor? Bias) DeserializeExtBias(ReadOnlySpan<byte> blob)
    {
        var parsed = UqffCodec.ReadLayer(blob);
        HostTensor? bias = parsed.Bias is { } b ? HostTensor.FromArray(b.ToSingle(), b.Dims) : null;
        switch (parsed.Type)
        {
            case UqffLayer.Unquant:
            {
                var w = parsed.Tensors[0];
                var dtype = w.DType switch
                {
                    UqffDType.F32 => DType.F32,
                    UqffDType.F16 => DType.F16,
                    UqffDType.BF16 => DType.BF16,
                    _ => throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"An Unquant layer's weight must be F32, F16 or BF16; it is {w.DType}."), TypeOffset),
                };
                if (w.Dims.Length != 2) throw new QuantFormatException($"An Unquant layer's weight must be [N, K]; it is [{string.Join(", ", w.Dims)}].", TypeOffset);
                return (new UnquantLinear(HostTensor.FromOwnedBytes(dtype, w.Dims, w.Data)), bias);
            }
            case UqffLayer.Mxfp4:
                return (new Mxfp4Layer(UqffCodec.ToMatrix(parsed)), bias);
            default:
                return (new QuantLinear(UqffCodec.ToMatrix(parsed)), bias);
        }
    }

    private static IQuantMethod WithBias(IQuantMethod layer, HostTensor bias) => layer switch
    {
        Mxfp4Layer m => new Mxfp4Layer(m.Weight, bias),
        QuantLinear q => new QuantLinear(q.Weight, bias),
        UnquantLinear u => new UnquantLinear(u.Weight, bias),
        _ => throw new InvalidOperationException($"Cannot attach a bias to {layer.Name}."),
    };
}
