using System;
using System.CommandLine;
using System.Globalization;
using Quant.Kernels;
using Quant.Uqff;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant raw</c>: quantize, dequantize and multiply headerless little-endian files, and write or read
/// UQFF layer blobs. See <see cref="RawFiles"/> for the file conventions.
/// </summary>
internal static class RawCommand
{
    /// <summary>Builds <c>raw</c> and its subcommands, writing through <paramref name="context"/>.</summary>
    public static Command Create(CliContext context)
    {
        var raw = new Command("raw", "Headerless little-endian row-major files: quantize, dequantize, GEMV, UQFF layer blobs.");
        raw.Subcommands.Add(Quantize(context));
        raw.Subcommands.Add(Dequantize(context));
        raw.Subcommands.Add(MatVec(context));
        raw.Subcommands.Add(UqffCommands.Write(context));
        raw.Subcommands.Add(UqffCommands.Read(context));
        return raw;
    }

    /// <summary>A required path argument; its help name shows the file kind the command expects.</summary>
    internal static Argument<string> Path(string name, string description)
        => new(name) { Description = description };

    private static Command Quantize(CliContext context)
    {
        var format = CommonOptions.Format(required: true);
        var columns = CommonOptions.Columns();
        var rule = CommonOptions.Rule();
        var imatrix = CommonOptions.Imatrix();
        var threads = CommonOptions.Threads();
        var input = Path("IN.f32", "float32 weights, rows of K values.");
        var output = Path("OUT.bin", "The quantized rows, planes back to back in declaration order.");
        var command = new Command("quantize", "Quantizes float32 rows to a format.");
        command.Options.Add(format);
        command.Options.Add(columns);
        command.Options.Add(rule);
        command.Options.Add(imatrix);
        command.Options.Add(threads);
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.SetAction(parse => context.Guard(() =>
        {
            var kernels = CommonOptions.ResolveFormat(parse.GetValue(format));
            var info = kernels.Info;
            int k = parse.GetValue(columns);
            CommonOptions.CheckColumns(info, k);
            int ruleIndex = CommonOptions.ResolveRule(info, parse.GetValue(rule));
            int workers = CommonOptions.ResolveThreads(parse.GetValue(threads));
            string inPath = parse.GetValue(input) ?? "", outPath = parse.GetValue(output) ?? "";
            RawFiles.CheckOutput(outPath, "output");

            float[] weights = RawFiles.ReadFloatRows(inPath, "input", k, out int rows);
            float[]? importance = CommonOptions.ReadImportance(parse.GetValue(imatrix), k);
            var matrix = kernels.Quantize(weights, rows, k, ruleIndex, importance, workers);
            RawFiles.WriteQuantMatrix(outPath, matrix);
            context.Out.WriteLine(Text(
                $"{outPath}: {rows} x {k} {info.Name} (rule {info.Rules[ruleIndex].Name}{(importance is null ? "" : ", importance matrix")}), {matrix.Bytes} bytes, {info.BitsPerWeight:0.###} bits per weight"));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Dequantize(CliContext context)
    {
        var format = CommonOptions.Format(required: true);
        var columns = CommonOptions.Columns();
        var threads = CommonOptions.Threads();
        var input = Path("IN.bin", "Quantized rows, planes back to back in declaration order.");
        var output = Path("OUT.f32", "float32 rows of K values.");
        var backend = CommonOptions.BackendOption();
        var device = CommonOptions.Device();
        var command = new Command("dequantize", "Dequantizes a format's rows to float32.");
        command.Options.Add(format);
        command.Options.Add(columns);
        command.Options.Add(threads);
        command.Options.Add(backend);
        command.Options.Add(device);
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.SetAction(parse => context.Guard(() =>
        {
            var kernels = CommonOptions.ResolveFormat(parse.GetValue(format));
            var info = kernels.Info;
            int k = parse.GetValue(columns);
            CommonOptions.CheckColumns(info, k);
            int workers = CommonOptions.ResolveThreads(parse.GetValue(threads));
            string inPath = parse.GetValue(input) ?? "", outPath = parse.GetValue(output) ?? "";
            RawFiles.CheckOutput(outPath, "output");

            var matrix = RawFiles.ReadQuantMatrix(inPath, "input", info, k);
            float[] floats = AllocateFloats(matrix.Rows, k, inPath);
            var where = CommonOptions.ResolveBackend(parse.GetValue(backend));
            using (var placed = CommonOptions.Place(matrix, where, parse.GetValue(device), workers)) placed.Dequantize(floats);
            RawFiles.WriteFloats(outPath, floats);
            context.Out.WriteLine(Text($"{outPath}: {matrix.Rows} x {k} float32 from {info.Name}{On(where, parse.GetValue(device))}"));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command MatVec(CliContext context)
    {
        var format = CommonOptions.Format(required: true);
        var columns = CommonOptions.Columns();
        var threads = CommonOptions.Threads();
        var weightArg = Path("W.bin", "The quantized weight W [N, K], planes back to back.");
        var activationArg = Path("X.f32", "The activation x: exactly K float32.");
        var output = Path("Y.f32", "y = W x: N float32.");
        var backend = CommonOptions.BackendOption();
        var device = CommonOptions.Device();
        var command = new Command("matvec", "GEMV with the fused dequantize-and-dot kernel: y[n] = sum_k W[n, k] x[k].");
        command.Options.Add(format);
        command.Options.Add(columns);
        command.Options.Add(threads);
        command.Options.Add(backend);
        command.Options.Add(device);
        command.Arguments.Add(weightArg);
        command.Arguments.Add(activationArg);
        command.Arguments.Add(output);
        command.SetAction(parse => context.Guard(() =>
        {
            var kernels = CommonOptions.ResolveFormat(parse.GetValue(format));
            var info = kernels.Info;
            int k = parse.GetValue(columns);
            CommonOptions.CheckColumns(info, k);
            int workers = CommonOptions.ResolveThreads(parse.GetValue(threads));
            string wPath = parse.GetValue(weightArg) ?? "", xPath = parse.GetValue(activationArg) ?? "", yPath = parse.GetValue(output) ?? "";
            RawFiles.CheckOutput(yPath, "output");

            var weight = RawFiles.ReadQuantMatrix(wPath, "weight", info, k);
            float[] x = RawFiles.ReadFloatVector(xPath, "activation", k);
            var y = new float[weight.Rows];
            var where = CommonOptions.ResolveBackend(parse.GetValue(backend));
            using (var placed = CommonOptions.Place(weight, where, parse.GetValue(device), workers)) placed.MatMul(x, y);
            RawFiles.WriteFloats(yPath, y);
            context.Out.WriteLine(Text($"{yPath}: {weight.Rows} float32 = {info.Name} [{weight.Rows}, {k}] x [{k}]{On(where, parse.GetValue(device))}"));
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>" on OpenCL device ..." for device runs, nothing for the CPU (whose output lines stay as they were).</summary>
    private static string On(Runtime.Backend backend, string? device)
        => backend == Runtime.Backend.Cpu ? "" : ", on OpenCL device " + Runtime.OpenCl.OpenClContext.Shared(device).Device.FullName;

    /// <summary>A float buffer for a whole matrix, or bad data when it cannot be one array.</summary>
    internal static float[] AllocateFloats(long rows, long columns, string source)
    {
        long count = rows * columns;
        if (count > Array.MaxLength)
        {
            throw CliException.BadData(Text(
                $"'{source}' holds a {rows} x {columns} matrix, {count} floats; this tool holds at most {Array.MaxLength} in one matrix."));
        }
        return new float[count];
    }

    internal static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
