using System;
using System.Buffers.Binary;
using System.Globalization;
using System.IO;
using Quant.Uqff;

namespace Quant.Cli.Inspect;

/// <summary>A UQFF 0.2.x layer blob (one layer, as mistral.rs serializes it): its type and its tensor records.</summary>
internal sealed class UqffLayerInspector : IFileInspector
{
    public string Kind => "UQFF layer blob";

    // u32 version 0.2.x ((major << 16) | (minor << 8) | patch, little-endian: patch, 2, 0, 0), then a layer type 0..6.
    public bool Matches(string path, ReadOnlySpan<byte> head)
        => head.Length >= 5 && (BinaryPrimitives.ReadUInt32LittleEndian(head) >> 8) == (UqffCodec.Version >> 8) && head[4] <= 6;

    public InspectReport Inspect(string path)
    {
        byte[] blob = File.ReadAllBytes(path);
        var layer = UqffCodec.ReadLayer(blob);
        var report = new InspectReport(path, Kind, blob.Length);
        report.Properties.Add(("version", string.Create(CultureInfo.InvariantCulture, $"{layer.Version >> 16}.{(layer.Version >> 8) & 0xFF}.{layer.Version & 0xFF}")));
        report.Properties.Add(("layer type", $"{layer.Type} ({(int)layer.Type})"));
        report.Properties.Add(("bias", layer.Bias is not null));
        switch (layer.Type)
        {
            case UqffLayer.Gguf:
            case UqffLayer.F8Q8:
            {
                var format = layer.Type == UqffLayer.Gguf ? QuantFormatRegistry.FindByGgufType(layer.GgmlType) : QuantFormatRegistry.FindByUqff(UqffLayer.F8Q8);
                if (layer.Type == UqffLayer.Gguf) report.Properties.Add(("ggml type", layer.GgmlType));
                string type = layer.Type == UqffLayer.Gguf ? string.Create(CultureInfo.InvariantCulture, $"ggml {layer.GgmlType}") : "F8Q8 blocks";
                report.Tensors.Add(new InspectTensor("weight", type, format?.Info.Name, Array.ConvertAll(layer.GgufDims, d => (long)d), layer.GgufData.Length));
                break;
            }
            default:
                if (layer.Type == UqffLayer.Afq)
                {
                    report.Properties.Add(("bits", layer.Bits));
                    report.Properties.Add(("group size", layer.GroupSize));
                }
                if (layer.Type == UqffLayer.Fp8)
                {
                    report.Properties.Add(("dequant_w_scale", layer.Scalars[0]));
                    report.Properties.Add(("dequant_x_scale", layer.Scalars[1]));
                    report.Properties.Add(("quant_scale", layer.Scalars[2]));
                }
                string? formatName = layer.Type switch
                {
                    UqffLayer.Afq => QuantFormatRegistry.FindByUqff(UqffLayer.Afq, layer.Bits, layer.GroupSize)?.Info.Name,
                    UqffLayer.Unquant => null,
                    _ => QuantFormatRegistry.FindByUqff(layer.Type)?.Info.Name,
                };
                string[] names = layer.Type switch
                {
                    UqffLayer.Mxfp4 => ["blocks", "scales"],
                    UqffLayer.Afq or UqffLayer.Hqq => ["w_q", "scales", layer.Type == UqffLayer.Afq ? "biases" : "zeros"],
                    _ => ["weight"],
                };
                for (int i = 0; i < layer.Tensors.Count; i++)
                {
                    var t = layer.Tensors[i];
                    report.Tensors.Add(new InspectTensor(i < names.Length ? names[i] : $"tensor {i}", t.DType.ToString(), formatName, Array.ConvertAll(t.Dims, d => (long)d), t.Data.Length));
                }
                break;
        }
        if (layer.Bias is { } bias) report.Tensors.Add(new InspectTensor("bias", bias.DType.ToString(), null, Array.ConvertAll(bias.Dims, d => (long)d), bias.Data.Length));
        return report;
    }
}
