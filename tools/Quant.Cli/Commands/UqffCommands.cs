using System;
using System.CommandLine;
using Quant.Kernels;
using Quant.Uqff;

namespace Quant.Cli.Commands;

/// <summary><c>quant raw uqff</c> and <c>quant raw unuqff</c>: one layer as a UQFF 0.2.0 layer blob, and back.</summary>
internal static class UqffCommands
{
    /// <summary><c>raw uqff</c>: quantizes float32 rows into the format's layer blob, or stores them as an Unquant layer.</summary>
    public static Command Write(CliContext context)
    {
        var format = CommonOptions.Format(required: false);
        format.Description = "Quantize to this format and write its layer type (Gguf or Mxfp4). Give this or --unquant.";
        var unquant = new Option<string?>("--unquant")
        {
            Description = "Write an Unquant (type 1) layer storing the weight (and bias) as f32, f16 or bf16. Give this or --format.",
            HelpName = "dtype",
        };
        unquant.AcceptOnlyFromAmong("f32", "f16", "bf16");
        var columns = CommonOptions.Columns();
        var rule = CommonOptions.Rule();
        var imatrix = CommonOptions.Imatrix();
        var threads = CommonOptions.Threads();
        var biasOption = new Option<string?>("--bias") { Description = "A bias of N float32 to store with the layer.", HelpName = "B.f32" };
        var input = RawCommand.Path("IN.f32", "float32 weights, rows of K values.");
        var output = RawCommand.Path("OUT.uqff", "The UQFF layer blob.");
        var command = new Command("uqff", "Writes a layer as a UQFF 0.2.0 layer blob: the format's own layer type, or Unquant with --unquant.");
        command.Options.Add(format);
        command.Options.Add(unquant);
        command.Options.Add(columns);
        command.Options.Add(rule);
        command.Options.Add(imatrix);
        command.Options.Add(threads);
        command.Options.Add(biasOption);
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.SetAction(parse => context.Guard(() =>
        {
            string? formatName = parse.GetValue(format);
            string? dtypeName = parse.GetValue(unquant);
            if ((formatName is null) == (dtypeName is null))
            {
                throw CliException.Usage("give exactly one of --format F (a quantized layer) and --unquant f32|f16|bf16 (an Unquant layer).");
            }
            int k = parse.GetValue(columns);
            int workers = CommonOptions.ResolveThreads(parse.GetValue(threads));
            string? ruleName = parse.GetValue(rule);
            string? imatrixPath = parse.GetValue(imatrix);
            FormatKernels? kernels = null;
            int ruleIndex = -1;
            if (formatName is not null)
            {
                kernels = CommonOptions.ResolveFormat(formatName);
                CommonOptions.CheckColumns(kernels.Info, k);
                if (kernels.Info.Uqff == UqffLayer.None)
                {
                    throw CliException.Usage($"format '{kernels.Info.Name}' has no UQFF layer type.");
                }
                ruleIndex = CommonOptions.ResolveRule(kernels.Info, ruleName);
            }
            else
            {
                CommonOptions.CheckPositive("--cols", k);
                if (ruleName is not null) throw CliException.Usage("--rule applies to --format, not to --unquant.");
                if (imatrixPath is not null) throw CliException.Usage("--imatrix applies to --format, not to --unquant.");
            }
            string inPath = parse.GetValue(input) ?? "", outPath = parse.GetValue(output) ?? "";
            string? biasPath = parse.GetValue(biasOption);
            RawFiles.CheckOutput(outPath, "output");

            float[] weights = RawFiles.ReadFloatRows(inPath, "input", k, out int rows);
            float[]? bias = biasPath is null ? null : RawFiles.ReadFloatVector(biasPath, "bias", rows);
            float[]? importance = CommonOptions.ReadImportance(imatrixPath, k);
            byte[] blob;
            string what;
            if (kernels is not null)
            {
                var matrix = kernels.Quantize(weights, rows, k, ruleIndex, importance, workers);
                blob = WriteQuantLayer(matrix, bias);
                what = RawCommand.Text($"{kernels.Info.Name} (rule {kernels.Info.Rules[ruleIndex].Name}{(importance is null ? "" : ", importance matrix")}) as a {kernels.Info.Uqff} layer");
            }
            else
            {
                var dtype = dtypeName switch
                {
                    "f16" => UqffDType.F16,
                    "bf16" => UqffDType.BF16,
                    _ => UqffDType.F32,
                };
                blob = UqffCodec.WriteUnquant(weights, rows, k, dtype, bias);
                what = $"an Unquant layer of {dtype}";
            }
            RawFiles.WriteBytes(outPath, blob);
            context.Out.WriteLine(RawCommand.Text(
                $"{outPath}: {rows} x {k} {what}{(bias is null ? "" : ", with bias")}, {blob.Length} bytes"));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary><c>raw unuqff</c>: reads any layer blob the codec knows and writes its weight as float32 rows.</summary>
    public static Command Read(CliContext context)
    {
        var threads = CommonOptions.Threads();
        var biasOut = new Option<string?>("--bias-out") { Description = "Also write the layer's bias (N float32) here.", HelpName = "B.f32" };
        var input = RawCommand.Path("IN.uqff", "A UQFF 0.2.0 layer blob.");
        var output = RawCommand.Path("OUT.f32", "The weight, dequantized, as row-major float32.");
        var command = new Command("unuqff", "Reads a UQFF layer blob and writes its weight (dequantized) as float32 rows.");
        command.Options.Add(threads);
        command.Options.Add(biasOut);
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.SetAction(parse => context.Guard(() =>
        {
            int workers = CommonOptions.ResolveThreads(parse.GetValue(threads));
            string inPath = parse.GetValue(input) ?? "", outPath = parse.GetValue(output) ?? "";
            string? biasPath = parse.GetValue(biasOut);
            RawFiles.CheckOutput(outPath, "output");
            if (biasPath is not null) RawFiles.CheckOutput(biasPath, "bias output");

            byte[] blob = RawFiles.ReadBytes(inPath, "input");
            float[] weights;
            float[]? bias;
            string shape;
            try
            {
                var layer = UqffCodec.ReadLayer(blob);
                bias = layer.Bias?.ToSingle();
                if (layer.Type == UqffLayer.Unquant)
                {
                    var weight = layer.Tensors[0];
                    weights = weight.ToSingle();
                    if (bias is not null && (weight.Dims.Length == 0 || bias.Length != weight.Dims[0]))
                    {
                        throw new QuantFormatException(RawCommand.Text(
                            $"the bias holds {bias.Length} values for a weight of shape [{string.Join(", ", weight.Dims)}]."));
                    }
                    shape = RawCommand.Text($"[{string.Join(", ", weight.Dims)}] {weight.DType} (Unquant layer)");
                }
                else
                {
                    var matrix = UqffCodec.ToMatrix(layer, bias);
                    weights = RawCommand.AllocateFloats(matrix.Rows, matrix.Columns, inPath);
                    FormatKernels.For(matrix.Format.Name).Dequantize(matrix, weights, workers);
                    shape = RawCommand.Text($"{matrix.Rows} x {matrix.Columns} {matrix.Format.Name} ({layer.Type} layer)");
                }
            }
            catch (QuantFormatException e)
            {
                // The codec's message gives the byte offset; the file name makes it actionable.
                throw CliException.BadData($"input '{inPath}': {e.Message}", e);
            }
            if (biasPath is not null && bias is null)
            {
                throw CliException.BadData($"input '{inPath}' holds a layer without a bias; --bias-out has nothing to write.");
            }

            RawFiles.WriteFloats(outPath, weights);
            if (biasPath is not null) RawFiles.WriteFloats(biasPath, bias!);
            context.Out.WriteLine(RawCommand.Text(
                $"{outPath}: {weights.Length} float32 from {shape}{(bias is null ? "" : ", with bias")}"));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static byte[] WriteQuantLayer(QuantMatrix matrix, float[]? bias)
    {
        try
        {
            return UqffCodec.WriteLayer(matrix, bias);
        }
        catch (QuantFormatException e)
        {
            // The bias length was checked when it was read, so what is left is a layer type the writer
            // does not know: the command line asked for something this build cannot write.
            throw CliException.Usage(e.Message);
        }
    }
}
