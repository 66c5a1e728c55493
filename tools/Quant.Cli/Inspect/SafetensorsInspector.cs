using System;
using System.Buffers.Binary;
using System.Linq;
using System.Text.Json.Nodes;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Cli.Inspect;

/// <summary>Safetensors files: the <c>__metadata__</c> strings and the tensor table.</summary>
internal sealed class SafetensorsInspector : IFileInspector
{
    public string Kind => "safetensors";

    /// <summary>A u64 header length that fits the 100 MB bound, then the header's opening brace.</summary>
    public static bool LooksLikeSafetensors(ReadOnlySpan<byte> head)
        => head.Length >= 9 && BinaryPrimitives.ReadUInt64LittleEndian(head) is >= 2 and <= SafetensorsFile.MaxHeaderLength && head[8] == (byte)'{';

    public bool Matches(string path, ReadOnlySpan<byte> head) => LooksLikeSafetensors(head);

    public InspectReport Inspect(string path)
    {
        using var file = SafetensorsFile.Open(path);
        var report = new InspectReport(path, Kind, file.Length);
        report.Properties.Add(("header bytes", file.DataStart - 8));
        report.Properties.Add(("tensors", file.Entries.Count));
        report.Properties.Add(("metadata pairs", file.Metadata.Count));
        foreach (var (key, value) in file.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            report.Metadata.Add(new InspectMetadata(key, "string", value.Length > 60 ? value[..60] + "..." : value, JsonValue.Create(value)));
        }
        foreach (var e in file.Entries)
        {
            report.Tensors.Add(new InspectTensor(e.Name, e.DType.SafetensorsName(), null, Array.ConvertAll(e.Shape, d => (long)d), e.Length));
        }
        return report;
    }
}
