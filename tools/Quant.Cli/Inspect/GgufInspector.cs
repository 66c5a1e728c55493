using System;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using Quant.Runtime.Gguf;

namespace Quant.Cli.Inspect;

/// <summary>GGUF files: header, metadata, tensor table.</summary>
internal sealed class GgufInspector : IFileInspector
{
    // Array elements and string characters a table shows before it abbreviates; JSON has everything.
    private const int ShownElements = 8, ShownCharacters = 60;

    public string Kind => "GGUF";

    public bool Matches(string path, ReadOnlySpan<byte> head) => GgufFile.HasMagic(head);

    public InspectReport Inspect(string path)
    {
        using var file = GgufFile.Open(path);
        var report = new InspectReport(path, Kind, file.Length);
        report.Properties.Add(("version", file.Version));
        report.Properties.Add(("alignment", file.Alignment));
        report.Properties.Add(("data offset", file.DataOffset));
        report.Properties.Add(("tensors", file.Tensors.Count));
        report.Properties.Add(("metadata pairs", file.Metadata.Count));
        foreach (var (key, value) in file.Metadata)
        {
            string type = value.Type == GgufValueType.Array ? $"{TypeName(value.AsArray().ElementType)}[{value.AsArray().Count}]" : TypeName(value.Type);
            report.Metadata.Add(new InspectMetadata(key, type, Summary(value), Json(value)));
        }
        foreach (var t in file.Tensors)
        {
            report.Tensors.Add(new InspectTensor(t.Name, GgmlName(t.Type), t.Type.Format?.Info.Name, t.Shape, t.ByteCount));
        }
        return report;
    }

    // ggml's own spelling of the type, which is also what llama.cpp prints.
    private static string GgmlName(GgufTensorType type) => type.Id switch
    {
        0 => "F32",
        39 => "MXFP4",
        _ => type.Name.ToUpperInvariant(),
    };

    private static string TypeName(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "string",
        GgufValueType.Array => "array",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        _ => "f64",
    };

    private static string Summary(GgufValue value)
    {
        if (value.Type == GgufValueType.String) return Quote(value.AsString());
        if (value.Type != GgufValueType.Array) return value.ToString();
        var array = value.AsArray();
        var shown = array.Elements().Take(ShownElements).Select(Summary);
        string more = array.Count > ShownElements ? string.Create(CultureInfo.InvariantCulture, $", ... ({array.Count} in all)") : "";
        return $"[{string.Join(", ", shown)}{more}]";
    }

    private static string Quote(string s)
    {
        var text = new StringBuilder("\"");
        foreach (char c in s.Length > ShownCharacters ? s[..ShownCharacters] : s)
        {
            text.Append(char.IsControl(c) ? string.Create(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}") : c.ToString());
        }
        return text.Append(s.Length > ShownCharacters ? "\"..." : "\"").ToString();
    }

    internal static JsonNode? Json(GgufValue value) => value.Type switch
    {
        GgufValueType.String => JsonValue.Create(value.AsString()),
        GgufValueType.Bool => JsonValue.Create(value.AsBool()),
        GgufValueType.Float32 => Finite(value.AsFloat32()) ? JsonValue.Create(value.AsFloat32()) : JsonValue.Create(value.ToString()),
        GgufValueType.Float64 => double.IsFinite(value.AsFloat64()) ? JsonValue.Create(value.AsFloat64()) : JsonValue.Create(value.ToString()),
        GgufValueType.Array => new JsonArray(value.AsArray().Elements().Select(Json).ToArray()),
        GgufValueType.UInt64 => value.TryGetUInt64(out ulong u) ? JsonValue.Create(u) : null,
        _ => value.TryGetInt64(out long i) ? JsonValue.Create(i) : null,
    };

    private static bool Finite(float f) => float.IsFinite(f);
}
