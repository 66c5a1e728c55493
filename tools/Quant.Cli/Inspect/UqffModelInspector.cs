using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Nodes;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;
using Quant.Uqff;

namespace Quant.Cli.Inspect;

/// <summary>
/// A whole UQFF model, given any of its <c>.uqff</c> parts: the parts, every layer (its checkpoint name, UQFF layer type,
/// format, weight shape and blob bytes), then the residual tensors; <c>config.json</c>'s values as metadata.
/// </summary>
internal sealed class UqffModelInspector : IFileInspector
{
    public string Kind => "UQFF model";

    /// <summary>
    /// The file to open for <paramref name="path"/>: itself when it exists, else the first part of the UQFF model it names
    /// (<c>model.uqff</c>, the name given to <c>quant quantize -o</c>, stands for <c>model-0.uqff</c>, ...).
    /// </summary>
    public static string Resolve(string path)
    {
        if (File.Exists(path) || !path.EndsWith(".uqff", StringComparison.OrdinalIgnoreCase)) return path;
        var parts = UqffModelFormat.FindParts(path);
        return parts.Count > 0 ? parts[0].Path : path;
    }

    public bool Matches(string path, ReadOnlySpan<byte> head)
        => path.EndsWith(".uqff", StringComparison.OrdinalIgnoreCase) && SafetensorsInspector.LooksLikeSafetensors(head);

    public InspectReport Inspect(string path)
    {
        using var model = UqffModel.Open(path);
        var report = new InspectReport(path, Kind, model.Bytes);
        report.Properties.Add(("parts", new JsonArray(model.Files.Select(f => (JsonNode)JsonValue.Create(Path.GetFileName(f))).ToArray())));
        report.Properties.Add(("layers", model.Layers.Count));
        report.Properties.Add(("residual tensors", model.Residual.Entries.Count));
        report.Properties.Add(("layer bytes", model.Layers.Sum(l => l.Length)));
        report.Properties.Add(("residual bytes", model.Residual.Length));
        if (model.ConfigJson is { } config)
        {
            try
            {
                using var document = JsonDocument.Parse(config);
                foreach (var p in document.RootElement.EnumerateObject())
                {
                    var node = JsonNode.Parse(p.Value.GetRawText());
                    string text = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : node?.ToJsonString() ?? "null";
                    report.Metadata.Add(new InspectMetadata("config." + p.Name, p.Value.ValueKind.ToString().ToLowerInvariant(), text.Length > 60 ? text[..60] + "..." : text, node));
                }
            }
            catch (JsonException)
            {
                report.Properties.Add(("config.json", "not valid JSON"));
            }
        }
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.Layers[i];
            var blob = UqffCodec.ReadLayer(model.Blob(i));
            var (format, shape) = Describe(blob);
            report.Tensors.Add(new InspectTensor(string.Create(CultureInfo.InvariantCulture, $"{i}: {layer.DisplayName}"),
                $"{blob.Type}{(blob.Bias is null ? "" : " + bias")}", format, shape, layer.Length));
        }
        foreach (var e in model.Residual.Entries)
        {
            report.Tensors.Add(new InspectTensor("residual: " + e.Name, e.DType.SafetensorsName(), null, Array.ConvertAll(e.Shape, d => (long)d), e.Length));
        }
        return report;
    }

    private static (string? Format, long[] Shape) Describe(UqffLayerBlob blob)
    {
        int[] dims = blob.Type switch
        {
            UqffLayer.Gguf or UqffLayer.F8Q8 => blob.GgufDims,
            UqffLayer.Hqq => blob.Hqq!.Shape,
            UqffLayer.Mxfp4 => [.. blob.Tensors[0].Dims[..^1], blob.Tensors[0].Dims[^1] * 2],
            UqffLayer.Afq => [blob.Tensors[0].Dims[0], blob.Tensors[1].Dims[^1] * blob.GroupSize],
            _ => blob.Tensors[0].Dims,
        };
        string? format = blob.Type switch
        {
            UqffLayer.Gguf => QuantFormatRegistry.FindByGgufType(blob.GgmlType)?.Info.Name,
            UqffLayer.Unquant => blob.Tensors[0].DType.ToString().ToLowerInvariant(),
            UqffLayer.Afq => QuantFormatRegistry.FindByUqff(UqffLayer.Afq, blob.Bits, blob.GroupSize)?.Info.Name,
            UqffLayer.Hqq => QuantFormatRegistry.FindByUqff(UqffLayer.Hqq, blob.Bits, blob.GroupSize)?.Info.Name,
            _ => QuantFormatRegistry.FindByUqff(blob.Type)?.Info.Name,
        };
        return (format, Array.ConvertAll(dims, d => (long)d));
    }
}
