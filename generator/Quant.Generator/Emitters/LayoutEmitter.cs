using System.Linq;
using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

/// <summary>Emits a format's layout constants, its <c>QuantFormatInfo</c> and the <c>Format</c> struct that implements the contract.</summary>
internal static class LayoutEmitter
{
    public static string Emit(FormatModel m) => Write(m, "layout", w =>
    {
        w.WriteLine($"/// <summary>Elements per block along a row.</summary>");
        w.WriteLine(GeneratedCode);
        w.WriteLine($"public const int BlockSize = {Int(m.BlockSize)};");
        w.WriteLine();
        w.WriteLine($"/// <summary>Bytes of all planes together per block.</summary>");
        w.WriteLine(GeneratedCode);
        w.WriteLine($"public const int BytesPerBlock = {Int(m.BytesPerBlock)};");
        w.WriteLine();
        w.WriteLine($"/// <summary>Bits of each element code.</summary>");
        w.WriteLine(GeneratedCode);
        w.WriteLine($"public const int CodeBits = {Int(m.Code.Bits)};");
        for (int p = 0; p < m.Planes.Count; p++)
        {
            var plane = m.Planes[p];
            var fields = m.Fields.Where(f => f.Plane == p).Select(f => $"{f.Name} ({Role(f.Role)}) at byte {f.Offset}, {f.Size} byte{(f.Size == 1 ? "" : "s")}");
            w.WriteLine();
            w.WriteLine(plane.PerTensor
                ? $"/// <summary>Bytes of plane {p}, '{Xml(plane.Name)}', which holds one value for the whole tensor: {string.Join("; ", fields)}.</summary>"
                : $"/// <summary>Bytes per block of plane {p}, '{Xml(plane.Name)}': {string.Join("; ", fields)}.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine($"public const int Plane{p}BytesPerBlock = {Int(plane.BytesPerBlock)};");
        }
        w.WriteLine();
        w.WriteLine($"/// <summary>The descriptor of format <c>{m.Name}</c>: block shape, planes, identity and quantization rules.</summary>");
        w.WriteLine(GeneratedCode);
        w.WriteLine("public static global::Quant.QuantFormatInfo Info { get; } = new global::Quant.QuantFormatInfo(");
        using (w.Indent())
        {
            w.WriteLine($"name: {Str(m.Name)},");
            w.WriteLine($"blockSize: {Int(m.BlockSize)},");
            w.WriteLine($"subBlockSize: {Int(m.SubBlockSize)},");
            w.WriteLine($"tileRows: {Int(m.TileRows)},");
            w.WriteLine("planes:");
            w.WriteLine("[");
            using (w.Indent())
            {
                foreach (var plane in m.Planes)
                {
                    string extent = plane.PerTensor ? "Tensor" : plane.PerTile ? "Tile" : "Block";
                    w.WriteLine(plane.Element == "Bytes" && !plane.Shared
                        ? $"new global::Quant.QuantPlaneInfo({Str(plane.Name)}, {Int(plane.BytesPerBlock)}),"
                        : $"new global::Quant.QuantPlaneInfo({Str(plane.Name)}, {Int(plane.BytesPerBlock)}, global::Quant.PlaneExtent.{extent}, global::Quant.PlaneElement.{plane.Element}),");
                }
            }
            w.WriteLine("],");
            w.WriteLine("rules:");
            w.WriteLine("[");
            using (w.Indent())
            {
                foreach (var rule in m.Rules)
                {
                    w.WriteLine($"new global::Quant.QuantRuleInfo({Str(rule.Name)}, global::Quant.ScaleRule.{rule.Kind}, {(rule.IsDefault ? "true" : "false")}, {Str(rule.Description)}),");
                }
            }
            w.WriteLine("],");
            w.WriteLine($"uqff: global::Quant.UqffLayer.{m.Uqff},");
            w.WriteLine($"ggufType: {Int(m.GgufType)},");
            w.WriteLine($"vecDotType: {Str(m.VecDotType)},");
            w.WriteLine($"description: {Str(m.Description)},");
            w.WriteLine($"codeBits: {Int(m.Code.Bits)});");
        }
        w.WriteLine();
        w.WriteLine($"/// <summary>");
        w.WriteLine($"/// Format <c>{m.Name}</c> as a type argument: the generic kernels (GEMV, GEMM, MoE gather, quantize over");
        w.WriteLine($"/// threads) take it as <c>TFormat</c> and get their own specialised copy for it.");
        w.WriteLine($"/// </summary>");
        w.WriteLine(GeneratedCode);
        using (w.Block("public readonly struct Format : global::Quant.IQuantFormat<Format>"))
        {
            w.WriteLine($"/// <inheritdoc/>");
            w.WriteLine($"public static global::Quant.QuantFormatInfo Info => {m.Type.Name}.Info;");
            w.WriteLine();
            w.WriteLine($"/// <inheritdoc/>");
            w.WriteLine($"public static void QuantizeRow(global::System.ReadOnlySpan<float> source, in global::Quant.QuantRowWriter destination, in global::Quant.QuantizeOptions options)");
            w.WriteLine($"    => {m.Type.Name}.QuantizeRow(source, in destination, in options);");
            w.WriteLine();
            w.WriteLine($"/// <inheritdoc/>");
            w.WriteLine($"public static void DequantizeBlocks(in global::Quant.QuantRow source, int firstBlock, global::System.Span<float> destination, global::Quant.SimdLevel level)");
            w.WriteLine($"    => {m.Type.Name}.DequantizeBlocks(in source, firstBlock, destination, level);");
            w.WriteLine();
            w.WriteLine($"/// <inheritdoc/>");
            w.WriteLine($"public static float DotRow(in global::Quant.QuantRow row, global::System.ReadOnlySpan<float> x, global::Quant.SimdLevel level)");
            w.WriteLine($"    => {m.Type.Name}.DotRow(in row, x, level);");
            if (DeviceCEmitter.Unsupported(m) is null)
            {
                w.WriteLine();
                w.WriteLine($"/// <inheritdoc/>");
                w.WriteLine($"public static string? OpenClSource => {m.Type.Name}.OpenClSource;");
            }
            if (m.TensorScale is not null || m.Tiled)
            {
                w.WriteLine();
                w.WriteLine($"/// <inheritdoc/>");
                w.WriteLine($"public static void QuantizeTensorPlanes(global::System.ReadOnlySpan<float> weights, global::Quant.QuantMatrix matrix)");
                w.WriteLine($"    => {m.Type.Name}.QuantizeTensorPlanes(weights, matrix);");
            }
        }
    });

    private static string Role(FieldRole role) => role switch
    {
        FieldRole.Scale => "scale",
        FieldRole.Min => "min",
        FieldRole.Codes => "codes",
        FieldRole.HighBits => "high bits",
        FieldRole.TensorScale => "tensor scale",
        FieldRole.SubScaleHighBits => "sub-scale high bits",
        _ => "sub-scales",
    };
}
