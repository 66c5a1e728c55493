using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

/// <summary>Emits a format's UQFF layer-blob writer and reader, which delegate the framing to the one UQFF codec.</summary>
internal static class UqffEmitter
{
    public static string? Emit(FormatModel m)
    {
        if (m.Uqff == UqffLayerKind.None) return null;
        string layer = m.Uqff == UqffLayerKind.Gguf ? $"a Gguf layer (type 0) of ggml type {m.GgufType}" : $"a {m.Uqff} layer (type {(int)m.Uqff})";
        return Write(m, "UQFF serialization", w =>
        {
            w.WriteLine($"/// <summary>Writes a <c>{m.Name}</c> weight as a UQFF 0.2.0 layer blob: {layer}.</summary>");
            w.WriteLine("/// <param name=\"weight\">The weight, <c>[N, K]</c>, in this format.</param>");
            w.WriteLine("/// <param name=\"bias\">The bias, <c>N</c> floats, or empty.</param>");
            w.WriteLine("/// <exception cref=\"global::System.ArgumentException\">The weight is in another format.</exception>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static byte[] WriteUqffLayer(global::Quant.QuantMatrix weight, global::System.ReadOnlySpan<float> bias = default)"))
            {
                w.WriteLine("global::System.ArgumentNullException.ThrowIfNull(weight);");
                using (w.Block("if (!global::System.Object.ReferenceEquals(weight.Format, Info))"))
                {
                    w.WriteLine($"throw new global::System.ArgumentException($\"The weight is in format '{{weight.Format.Name}}', not '{m.Name}'.\", nameof(weight));");
                }
                w.WriteLine("return global::Quant.Uqff.UqffCodec.WriteLayer(weight, bias);");
            }
            w.WriteLine();
            w.WriteLine($"/// <summary>Reads a UQFF layer blob that holds a <c>{m.Name}</c> weight ({layer}).</summary>");
            w.WriteLine("/// <param name=\"blob\">The layer blob.</param>");
            w.WriteLine("/// <param name=\"bias\">The bias as floats, or null when the layer has none.</param>");
            w.WriteLine($"/// <exception cref=\"global::Quant.QuantFormatException\">The blob is corrupt or holds another format.</exception>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static global::Quant.QuantMatrix ReadUqffLayer(global::System.ReadOnlySpan<byte> blob, out float[]? bias)"))
            {
                w.WriteLine("var weight = global::Quant.Uqff.UqffCodec.ReadQuantLayer(blob, out bias);");
                using (w.Block("if (!global::System.Object.ReferenceEquals(weight.Format, Info))"))
                {
                    w.WriteLine($"throw new global::Quant.QuantFormatException($\"The UQFF layer holds a '{{weight.Format.Name}}' weight, not '{m.Name}'.\");");
                }
                w.WriteLine("return weight;");
            }
        });
    }
}
