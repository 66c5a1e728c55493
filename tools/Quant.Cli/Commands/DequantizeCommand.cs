using System;
using System.Collections.Generic;
using System.CommandLine;
using System.IO;
using System.Linq;
using Quant.Cli.Inspect;
using Quant.Runtime.Gguf;
using Quant.Runtime.Layers;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;
using Quant.Uqff;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant dequantize FILE -o OUT.safetensors [--dtype f32|f16|bf16]</c>: a UQFF model, a GGUF file or a UQFF layer blob
/// back to dense tensors. A UQFF model gives its checkpoint's names (<c>X.weight</c> and <c>X.bias</c> per layer, the experts
/// of a stacked tensor stacked again as <c>[E, N, K]</c>) and its residual tensors; a GGUF file keeps its tensor names with
/// the shapes slowest first; a layer blob gives <c>weight</c> and <c>bias</c>. Float tensors are written in the chosen dtype,
/// others as stored. The output is streamed: one layer in memory at a time.
/// </summary>
internal static class DequantizeCommand
{
    private sealed record Output(string Name, DType DType, int[] Shape, Action<Action<ReadOnlySpan<byte>>> Write);

    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var input = new Argument<string>("FILE") { Description = "A UQFF model (any of its .uqff parts), a .gguf file or a UQFF layer blob." };
        var output = new Option<string>("--output", "-o") { Description = "The safetensors file to write.", HelpName = "OUT.safetensors", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "The dtype of the float tensors written.", HelpName = "f32|f16|bf16", DefaultValueFactory = _ => "f32" };
        dtype.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var command = new Command("dequantize", "Writes a UQFF model, a GGUF file or a UQFF layer blob back as dense F32, F16 or BF16 safetensors.");
        command.Arguments.Add(input);
        command.Options.Add(output);
        command.Options.Add(dtype);
        command.SetAction(parse => context.Guard(() =>
        {
            string path = UqffModelInspector.Resolve(parse.GetValue(input) ?? ""), outPath = parse.GetValue(output) ?? "";
            var target = parse.GetValue(dtype) switch { "f16" => DType.F16, "bf16" => DType.BF16, _ => DType.F32 };
            if (!File.Exists(path)) throw CliException.BadData($"input '{path}' does not exist.");
            RawFiles.CheckOutput(outPath, "output");
            if (string.Equals(Path.GetFullPath(path), Path.GetFullPath(outPath), StringComparison.Ordinal))
                throw CliException.Usage($"the output '{outPath}' is the input; write to another file.");
            var (kind, count, bytes) = Run(path, outPath, target);
            context.Out.WriteLine(Summary.Text($"{outPath}: {count} tensors from the {kind} '{path}' as {target.SafetensorsName()}, {bytes} bytes"));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static (string Kind, int Count, long Bytes) Run(string path, string outPath, DType target)
    {
        Span<byte> head = stackalloc byte[16];
        using (var stream = File.OpenRead(path)) head = head[..stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false)];
        try
        {
            if (GgufFile.HasMagic(head))
            {
                using var gguf = GgufFile.Open(path);
                return ("GGUF file", Write(outPath, Gguf(gguf, target)), new FileInfo(outPath).Length);
            }
            if (path.EndsWith(".uqff", StringComparison.OrdinalIgnoreCase) && SafetensorsInspector.LooksLikeSafetensors(head))
            {
                using var model = UqffModel.Open(path);
                if (model.Files.Any(f => string.Equals(Path.GetFullPath(f), Path.GetFullPath(outPath), StringComparison.Ordinal))
                    || string.Equals(Path.GetFullPath(model.Residual.Path), Path.GetFullPath(outPath), StringComparison.Ordinal))
                    throw CliException.Usage($"the output '{outPath}' is a file of the model; write to another file.");
                return ("UQFF model", Write(outPath, Uqff(model, target)), new FileInfo(outPath).Length);
            }
            byte[] blob = File.ReadAllBytes(path);
            return ("UQFF layer blob", Write(outPath, Blob(blob, target)), new FileInfo(outPath).Length);
        }
        catch (QuantFormatException e)
        {
            throw CliException.BadData(e.Message.Contains(path, StringComparison.Ordinal) ? e.Message : $"input '{path}': {e.Message}", e);
        }
    }

    private static int Write(string path, IReadOnlyList<Output> tensors)
    {
        using var writer = new SafetensorsWriter(path, tensors.Select(t => new SafetensorsTensorInfo(t.Name, t.DType, t.Shape)).ToArray());
        foreach (var t in tensors) t.Write(bytes => writer.Write(t.Name, bytes));
        writer.Commit();
        return tensors.Count;
    }

    private static IReadOnlyList<Output> Gguf(GgufFile file, DType target) => file.Tensors.Select(t =>
    {
        int[] shape = Array.ConvertAll(t.Shape, d => checked((int)d));
        return new Output(t.Name, target, shape, write => write(Convert(HostTensor.FromArray(file.ReadSingle(t), shape), target)));
    }).ToArray();

    private static IReadOnlyList<Output> Uqff(UqffModel model, DType target)
    {
        var outputs = new List<Output>();
        // Shapes first, from each blob's header (the layers are read again, one at a time, when written).
        var shapes = new Dictionary<int, (int Experts, int Rows, int Columns, bool Bias)>();
        for (int i = 0; i < model.Layers.Count; i++)
        {
            var layer = model.ReadLayer(i);
            shapes[i] = (layer.Experts, layer.OutFeatures, layer.InFeatures, layer.HasBias);
        }
        foreach (var group in model.Layers.GroupBy(l => l.Name ?? l.DisplayName).OrderBy(g => g.Min(l => l.Index)))
        {
            var layers = group.OrderBy(l => l.Expert ?? 0).ToArray();
            var (experts, rows, columns, bias) = shapes[layers[0].Index];
            if (layers.Any(l => shapes[l.Index] != (experts, rows, columns, bias)) || (experts > 1 && layers.Length > 1))
                throw new QuantFormatException($"The experts of '{group.Key}' have different shapes.");
            // Experts come one layer each (re-quantized) or all in one layer (an Mxfp4 layer of stacked experts).
            int stack = layers[0].Expert is not null ? layers.Length : experts;
            bool stacked = stack > 1 || layers[0].Expert is not null;
            int[] weightShape = stacked ? [stack, rows, columns] : [rows, columns];
            outputs.Add(new Output(group.Key + ".weight", target, weightShape, write =>
            {
                foreach (var l in layers) write(Convert(model.ReadLayer(l.Index).DequantizeWeight(), target));
            }));
            if (bias)
            {
                int[] biasShape = stacked ? [stack, rows] : [rows];
                outputs.Add(new Output(group.Key + ".bias", target, biasShape, write =>
                {
                    foreach (var l in layers) write(Convert(BiasOf(model.ReadLayer(l.Index)), target));
                }));
            }
        }
        foreach (var e in model.Residual.Entries)
        {
            var dtype = e.DType.IsFloat() && e.DType is not (DType.F8E4M3 or DType.F8E5M2) ? target : e.DType;
            outputs.Add(new Output(e.Name, dtype, e.Shape, write => write(Convert(model.Residual.Get(e.Name), dtype))));
        }
        if (outputs.Select(o => o.Name).Distinct(StringComparer.Ordinal).Count() != outputs.Count)
            throw new QuantFormatException("The model has a layer and a residual tensor of the same name.");
        return outputs;
    }

    private static IReadOnlyList<Output> Blob(byte[] blob, DType target)
    {
        var (layer, bias) = QuantMethods.DeserializeExtBias(blob);
        var outputs = new List<Output> { new("weight", target, [layer.OutFeatures, layer.InFeatures], write => write(Convert(layer.DequantizeWeight(), target))) };
        if (bias is not null) outputs.Add(new("bias", target, [layer.OutFeatures], write => write(Convert(bias, target))));
        return outputs;
    }

    private static HostTensor BiasOf(IQuantMethod layer) => layer switch
    {
        LinearLayer l when l.Bias is { } b => b,
        _ => throw new QuantFormatException($"Layer '{layer.Name}' has no bias to read."),
    };

    private static ReadOnlySpan<byte> Convert(HostTensor tensor, DType target) =>
        tensor.DType == target || !tensor.DType.IsFloat() || target is not (DType.F32 or DType.F16 or DType.BF16) ? tensor.Bytes : tensor.ToDType(target).Bytes;
}
