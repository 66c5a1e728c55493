using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;
using Quant.Cli.Demo;
using Quant.Kernels;
using Spectre.Console;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant demo</c>: one seeded gaussian layer quantized to every registered format, with the error of
/// each format and the speed of its batch-1 GEMV next to a float32 GEMV run on the same threads.
/// </summary>
internal static class DemoCommand
{
    // Per format: ~0.25 s of warm-up then ~0.35 s of timed runs (at most 400 runs) keeps the default
    // 4096 x 4096 run, float32 included, well under 20 s on two cores, with a median over dozens of runs.
    private const double WarmupSeconds = 0.25;
    private const double BudgetSeconds = 0.35;

    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var rows = new Option<int>("--rows", "-n") { Description = "Rows of the weight (N, outputs).", HelpName = "N", DefaultValueFactory = _ => 4096 };
        var columns = new Option<int>("--cols", "-k") { Description = "Columns of the weight (K, inputs).", HelpName = "K", DefaultValueFactory = _ => 4096 };
        var threads = CommonOptions.Threads();
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the gaussian weights and activation.", HelpName = "S", DefaultValueFactory = _ => 1UL };
        var tp = new Option<int>("--tp")
        {
            Description = "Run a synthetic GPT-OSS-style transformer block (attention and mxfp4 experts) over this many tensor-parallel ranks instead, and compare it with one rank.",
            HelpName = "N",
            DefaultValueFactory = _ => 0,
        };
        var comm = CommonOptions.Comm();
        var isq = new Option<string?>("--isq") { Description = "With --tp: quantize the attention projections to this format as they load (immediate ISQ).", HelpName = "FORMAT" };
        var checkpoint = new Option<string?>("--write-checkpoint")
        {
            Description = "Instead of the format table, write a small random Hugging Face checkpoint (config.json, model.safetensors, tokenizer.json) into DIR for 'quant quantize'.",
            HelpName = "DIR",
        };
        var architecture = new Option<string>("--arch") { Description = "The checkpoint's architecture (with --write-checkpoint).", HelpName = string.Join("|", SyntheticCheckpoint.Architectures), DefaultValueFactory = _ => "llama" };
        architecture.AcceptOnlyFromAmong([.. SyntheticCheckpoint.Architectures]);
        var size = new Option<string?>("--size") { Description = "Scale the checkpoint to about SIZE of tensors (e.g. 400M; hidden 1024, as many layers as fit); default: a tiny model.", HelpName = "SIZE" };
        var command = new Command("demo", "Quantizes a seeded gaussian layer to every format: error, GEMV time and GB/s against float32. With --tp N, runs a tensor-parallel transformer block instead; with --write-checkpoint, writes a small checkpoint for 'quant quantize'.");
        command.Options.Add(rows);
        command.Options.Add(columns);
        command.Options.Add(threads);
        command.Options.Add(seed);
        command.Options.Add(tp);
        command.Options.Add(comm);
        command.Options.Add(isq);
        command.Options.Add(checkpoint);
        command.Options.Add(architecture);
        command.Options.Add(size);
        command.SetAction(parse => context.Guard(() =>
        {
            if (parse.GetValue(checkpoint) is { } directory)
            {
                WriteCheckpoint(context, directory, parse.GetValue(architecture) ?? "llama", QuantizeCommand.ParseSize(parse.GetValue(size)), parse.GetValue(seed));
                return ExitCodes.Success;
            }
            if (parse.GetValue(size) is not null) throw CliException.Usage("--size applies to --write-checkpoint.");
            var kind = CommonOptions.ResolveComm(parse.GetValue(comm));
            int worldSize = parse.GetValue(tp);
            if (worldSize != 0 || kind == Quant.Runtime.Distributed.CommKind.Mpi)
            {
                if (worldSize < 0 || worldSize > Quant.Runtime.Distributed.InProcessComm.MaxWorldSize || (worldSize == 0 && kind == Quant.Runtime.Distributed.CommKind.InProcess))
                    throw CliException.Usage(Text($"--tp must be in [1, {Quant.Runtime.Distributed.InProcessComm.MaxWorldSize}] (0 takes mpirun's count with --comm mpi); got {worldSize}."));
                string? format = parse.GetValue(isq);
                if (format is not null && !QuantFormatRegistry.TryGet(format, out _)) throw CliException.Usage($"unknown --isq format '{format}'; see 'quant formats'.");
                return TensorParallelDemo.Run(context.Out, worldSize, kind, format, parse.GetValue(seed)) ? ExitCodes.Success : ExitCodes.Failure;
            }
            int n = parse.GetValue(rows), k = parse.GetValue(columns);
            CommonOptions.CheckPositive("--rows", n);
            CommonOptions.CheckPositive("--cols", k);
            if ((long)n * k > Array.MaxLength)
            {
                throw CliException.Usage(Text($"a {n} x {k} weight has {(long)n * k} floats; at most {Array.MaxLength} fit in one matrix."));
            }
            Run(context, n, k, CommonOptions.ResolveThreads(parse.GetValue(threads)), parse.GetValue(seed));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static void WriteCheckpoint(CliContext context, string directory, string architecture, long? size, ulong seed)
    {
        if (File.Exists(directory)) throw CliException.Usage($"--write-checkpoint '{directory}' is a file; name a folder.");
        var result = SyntheticCheckpoint.Write(directory, architecture, size, seed);
        context.Out.WriteLine(Text($"{directory}: a random {result.Architecture} checkpoint, {result.Layers} layers of hidden size {result.Hidden}, {result.Tensors} tensors, {result.Bytes} bytes of tensor data"));
        foreach (var file in result.Files) context.Out.WriteLine(Text($"  {Path.GetFileName(file)}  {new FileInfo(file).Length} bytes"));
        context.Out.WriteLine(Text($"next: quant quantize {directory} --to q4_K -o {directory.TrimEnd(Path.DirectorySeparatorChar)}-q4_K.gguf"));
    }

    private static void Run(CliContext context, int n, int k, int threads, ulong seed)
    {
        int workers = QuantThreadPool.Shared.Workers(threads);
        var weights = new float[(long)n * k];
        Gaussian.Fill(weights, n, k, seed);
        var x = new float[k];
        Gaussian.FillRow(x, Gaussian.Mix(seed, ulong.MaxValue));
        var y = new float[n];

        var console = context.CreateConsole();
        console.WriteLine(Text($"CPU:       {MachineInfo.CpuModel()}"));
        console.WriteLine(Text($"cores:     {Environment.ProcessorCount} logical; SIMD level {QuantSimd.Best}; {workers} thread(s); {RuntimeInformation.FrameworkDescription}"));
        console.WriteLine(Text($"layer:     W [{n}, {k}] ~ N(0, 1), x [{k}] ~ N(0, 1), seed {seed}; GEMV y = W x, batch 1"));
        console.WriteLine(Text($"float32:   DenseMath.Dot per row, rows split over the same {workers} thread(s) as the quantized GEMV"));
        console.WriteLine();

        // Phase 1: quantize to every format and run each GEMV a few times. The runtime delays tier-1
        // promotion while new tier-0 code is still being compiled, so timing a format while later ones
        // are still being compiled would penalise whichever comes first.
        var dense = new DenseGemv(weights, n, k, x, y);
        var layers = new List<Layer>();
        var dequantized = new float[weights.Length];
        foreach (var entry in QuantFormatRegistry.All)
        {
            var info = entry.Info;
            if (k % info.BlockSize != 0)
            {
                layers.Add(new Layer(info, null, null, 0, 0));
                continue;
            }
            var kernels = FormatKernels.For(entry);
            // A few rows first, so the timed quantization below measures quantization and not the JIT.
            int warmRows = Math.Min(n, 16);
            kernels.Quantize(weights.AsSpan(0, warmRows * k), warmRows, k, -1, default, threads);
            long start = Stopwatch.GetTimestamp();
            var matrix = kernels.Quantize(weights, n, k, -1, default, threads);
            double quantizeSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            kernels.Dequantize(matrix, dequantized, threads);
            layers.Add(new Layer(info, kernels, matrix, quantizeSeconds, Rmse(weights, dequantized)));
            for (int i = 0; i < 3; i++) kernels.MatMul(matrix, x, y, default, threads);
        }
        for (int i = 0; i < 3; i++) dense.Run(threads);

        // Phase 2: time each GEMV, float32 first, each after its own warm-up. A blocking collection
        // first, so no background GC of phase 1's large arrays competes with the timed threads.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var (denseSeconds, denseRuns) = MedianTimer.Median(() => dense.Run(threads), WarmupSeconds, BudgetSeconds);
        var table = new Table().Border(context.TableBorder);
        table.AddColumn(new TableColumn("format"));
        table.AddColumn(new TableColumn("bits/weight").RightAligned());
        table.AddColumn(new TableColumn("RMSE").RightAligned());
        table.AddColumn(new TableColumn("quantize").RightAligned());
        table.AddColumn(new TableColumn("GEMV (median)").RightAligned());
        table.AddColumn(new TableColumn("runs").RightAligned());
        table.AddColumn(new TableColumn("GB/s").RightAligned());
        table.AddColumn(new TableColumn("vs float32").RightAligned());
        table.AddRow(Cells("float32", "32", "0", "-", Duration(denseSeconds), Text($"{denseRuns}"),
            Text($"{dense.WeightBytes / denseSeconds / 1e9:0.00}"), "1.00x"));
        foreach (var layer in layers)
        {
            string bits = Text($"{layer.Info.BitsPerWeight:0.###}");
            if (layer.Kernels is null || layer.Matrix is null)
            {
                table.AddRow(Cells(layer.Info.Name, bits, Text($"skipped: K = {k} is not a multiple of {layer.Info.BlockSize}"), "-", "-", "-", "-", "-"));
                continue;
            }
            var (kernels, matrix) = (layer.Kernels, layer.Matrix);
            var (seconds, runs) = MedianTimer.Median(() => kernels.MatMul(matrix, x, y, default, threads), WarmupSeconds, BudgetSeconds);
            table.AddRow(Cells(layer.Info.Name, bits, Text($"{layer.Rmse:0.000000}"), Duration(layer.QuantizeSeconds),
                Duration(seconds), Text($"{runs}"), Text($"{matrix.Bytes / seconds / 1e9:0.00}"), Text($"{denseSeconds / seconds:0.00}x")));
        }
        console.Write(table);
        console.WriteLine("GEMV: median of the timed runs after a warm-up. GB/s: bytes of the weight (quantized planes, or float32) / GEMV time.");
        console.WriteLine("vs float32: float32 GEMV time / this format's GEMV time (above 1 is faster). quantize: one run over the whole layer, after a short warm-up.");
    }

    /// <summary>One format's quantized layer and its error; no kernels or matrix when K does not fit its blocks.</summary>
    private sealed record Layer(QuantFormatInfo Info, FormatKernels? Kernels, QuantMatrix? Matrix, double QuantizeSeconds, double Rmse);

    /// <summary>Root-mean-square difference, accumulated in float64 so a 16M-element sum does not lose the small errors.</summary>
    private static double Rmse(float[] reference, float[] values)
    {
        double sum = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = (double)values[i] - reference[i];
            sum += d * d;
        }
        return Math.Sqrt(sum / reference.Length);
    }

    private static string Duration(double seconds) => seconds < 1e-3
        ? Text($"{seconds * 1e6:0.0} us")
        : seconds < 1 ? Text($"{seconds * 1e3:0.000} ms") : Text($"{seconds:0.000} s");

    // Plain text cells: a value is never parsed as Spectre markup.
    private static Text[] Cells(params string[] values) => Array.ConvertAll(values, v => new Text(v));

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
