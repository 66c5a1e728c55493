using System.Collections.Generic;
using System.Text.Json.Nodes;

namespace Quant.Cli.Inspect;

/// <summary>What <c>quant inspect</c> found in a file, independent of its kind: the renderers (table, JSON) read only this.</summary>
internal sealed class InspectReport(string path, string kind, long bytes)
{
    /// <summary>The file.</summary>
    public string Path { get; } = path;

    /// <summary>The file kind (<c>GGUF</c>, <c>UQFF layer blob</c>).</summary>
    public string Kind { get; } = kind;

    /// <summary>The file's size in bytes.</summary>
    public long Bytes { get; } = bytes;

    /// <summary>Facts about the file as a whole (version, alignment, layer type), in display order.</summary>
    public List<(string Name, JsonNode? Value)> Properties { get; } = [];

    /// <summary>Key-value metadata, in file order (GGUF).</summary>
    public List<InspectMetadata> Metadata { get; } = [];

    /// <summary>The tensors, in file order.</summary>
    public List<InspectTensor> Tensors { get; } = [];
}

/// <summary>One metadata pair: its key, its type's name, a short form for tables and the complete value for JSON.</summary>
internal sealed record InspectMetadata(string Key, string Type, string Summary, JsonNode? Value);

/// <summary>One tensor: its name, its stored type (a ggml type, a UQFF dtype), the registered format that reads it (or null), its shape slowest first, its bytes.</summary>
internal sealed record InspectTensor(string Name, string Type, string? Format, long[] Shape, long Bytes);

/// <summary>A file kind <c>quant inspect</c> reads. New kinds (safetensors, UQFF model files) are one more class in <see cref="FileInspectors.All"/>.</summary>
internal interface IFileInspector
{
    /// <summary>The kind's name, as reports show it.</summary>
    string Kind { get; }

    /// <summary>Whether a file with this name and these first bytes (up to 16) is of this kind.</summary>
    bool Matches(string path, System.ReadOnlySpan<byte> head);

    /// <summary>Reads the file; a corrupt one throws <see cref="QuantFormatException"/>.</summary>
    InspectReport Inspect(string path);
}

/// <summary>Every kind <c>quant inspect</c> knows, tried in order; the first whose magic matches reads the file.</summary>
internal static class FileInspectors
{
    // A UQFF model part is a safetensors file named .uqff; safetensors comes before the layer blob, whose version word a header length can resemble.
    public static IReadOnlyList<IFileInspector> All { get; } = [new GgufInspector(), new UqffModelInspector(), new SafetensorsInspector(), new UqffLayerInspector()];
}
