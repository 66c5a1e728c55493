using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using Quant.Runtime.Conversion;
using Quant.Runtime.Imatrix;
using Quant.Runtime.Isq;
using Spectre.Console;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant quantize CHECKPOINT --to FORMAT -o OUT.(uqff|gguf)</c>: a whole checkpoint (a safetensors folder or file, or a
/// GGUF file) quantized into a UQFF model or a GGUF file, layer by layer on the ISQ pool, with a progress bar and a
/// summary table. The output appears only when complete; Ctrl+C or a kill (SIGTERM) leaves no output file.
/// </summary>
internal static class QuantizeCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var input = new Argument<string>("CHECKPOINT") { Description = "A checkpoint folder (config.json, *.safetensors, maybe model.safetensors.index.json), one .safetensors file, or a .gguf file." };
        var to = new Option<string?>("--to") { Description = "The format of every linear layer no rule names (q4_K, q8_0, mxfp4, hqq4_g64, ...; see 'quant formats').", HelpName = "FORMAT" };
        var rule = CommonOptions.Rule();
        var rules = new Option<string?>("--rules") { Description = "ISQ rules: 'PATTERN = FORMAT[:RULE]' lines (or JSON), first match wins, 'dense' keeps a layer, '* = FORMAT' sets the default.", HelpName = "FILE" };
        var imatrix = new Option<string?>("--imatrix") { Description = "An importance file (.imatrix.safetensors: per layer F32 mean squares [K] or [E, K]) for the formats' searches.", HelpName = "FILE" };
        var threads = CommonOptions.Threads();
        threads.Description = "ISQ workers, one layer each; 0 uses every logical core.";
        var output = new Option<string>("--output", "-o") { Description = "OUT.uqff (a UQFF model: OUT-N.uqff, residual.safetensors, config.json beside it) or OUT.gguf.", HelpName = "OUT", Required = true };
        var split = new Option<string?>("--max-file-size") { Description = "The size limit of one .uqff part (default 10G; K, M, G suffixes are powers of 1024).", HelpName = "SIZE" };
        var requantize = new Option<bool>("--requantize-mxfp4") { Description = "Re-quantize MXFP4 experts (GPT-OSS) to the chosen format instead of keeping them MXFP4." };
        var name = new Option<string?>("--name") { Description = "general.name of a GGUF file.", HelpName = "TEXT" };
        var command = new Command("quantize", "Quantizes a whole checkpoint to a UQFF model or a GGUF file, layer by layer on a bounded pool, writing as it goes.");
        command.Arguments.Add(input);
        foreach (var option in new Option[] { to, rule, rules, imatrix, threads, output, split, requantize, name }) command.Options.Add(option);
        command.SetAction(parse => context.Guard(() =>
        {
            string inputPath = parse.GetValue(input) ?? "", outputPath = parse.GetValue(output) ?? "";
            QuantizeOutput kind;
            try
            {
                kind = CheckpointQuantizerOptions.OutputOf(outputPath);
            }
            catch (ArgumentException e)
            {
                throw CliException.Usage(e.Message);
            }
            var options = new CheckpointQuantizerOptions
            {
                Format = parse.GetValue(to),
                Rule = parse.GetValue(rule),
                Threads = CommonOptions.ResolveThreads(parse.GetValue(threads)),
                MaxFileBytes = ParseSize(parse.GetValue(split)) ?? Quant.Runtime.Uqff.UqffModelFormat.DefaultMaxFileBytes,
                RequantizeMxfp4 = parse.GetValue(requantize),
                Name = parse.GetValue(name),
            };
            if (parse.GetValue(rules) is { } rulesPath) options = options with { Rules = LoadRules(rulesPath) };
            try
            {
                options.Validate(kind);
            }
            catch (ArgumentException e)
            {
                throw CliException.Usage(e.Message);
            }
            if (parse.GetValue(imatrix) is { } imatrixPath)
            {
                if (!File.Exists(imatrixPath)) throw CliException.BadData($"importance file '{imatrixPath}' does not exist.");
                options = options with { Imatrix = ImatrixFile.Load(imatrixPath) };
            }
            Run(context, inputPath, outputPath, options);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static IsqRules LoadRules(string path)
    {
        if (!File.Exists(path)) throw CliException.BadData($"rules file '{path}' does not exist.");
        var rules = IsqRules.Load(path);
        return rules;
    }

    /// <summary>Parses <c>10G</c>, <c>512M</c>, <c>64K</c>, <c>1000</c> (bytes); null for null.</summary>
    internal static long? ParseSize(string? text)
    {
        if (text is null) return null;
        string t = text.Trim();
        long unit = 1;
        if (t.Length > 0 && char.ToUpperInvariant(t[^1]) is 'K' or 'M' or 'G' or 'T')
        {
            unit = char.ToUpperInvariant(t[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L << 40 };
            t = t[..^1];
        }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !(value > 0) || value * unit > long.MaxValue / 2)
            throw CliException.Usage($"'{text}' is not a size (a positive number of bytes, with K, M, G or T for powers of 1024).");
        return Math.Max(1, (long)(value * unit));
    }

    private static void Run(CliContext context, string inputPath, string outputPath, CheckpointQuantizerOptions options)
    {
        if (!File.Exists(inputPath) && !Directory.Exists(inputPath)) throw CliException.BadData($"checkpoint '{inputPath}' does not exist.");
        if (Directory.Exists(outputPath)) throw CliException.Usage($"the output '{outputPath}' is a folder; name a file ending in .uqff or .gguf.");
        using var source = CheckpointSource.Open(inputPath);
        var plan = QuantizePlan.Create(source, outputPath, options);
        var inputs = source.InputFiles.ToHashSet(StringComparer.Ordinal);
        foreach (var file in plan.OutputFiles)
        {
            if (inputs.Contains(Path.GetFullPath(file)))
                throw CliException.Usage($"the output would replace '{file}', which belongs to the checkpoint; write the output to another file or folder.");
        }
        string folder = Path.GetDirectoryName(plan.OutputPath) ?? ".";
        Directory.CreateDirectory(folder);
        CheckSpace(folder, plan);

        using var cancel = new CancellationTokenSource();
        // Ctrl+C (SIGINT) and kill's default SIGTERM stop the work between layers; the writers then delete their temporary files.
        var signals = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                signals.Add(PosixSignalRegistration.Create(signal, c => { c.Cancel = true; cancel.Cancel(); }));
            }
            catch (PlatformNotSupportedException)
            {
                // Windows has no SIGTERM registration: Ctrl+C still arrives as SIGINT.
            }
        }
        try
        {
            var report = WithProgress(context, plan, options, cancel.Token);
            Summary.Write(context, report);
        }
        catch (OperationCanceledException)
        {
            throw CliException.Interrupted("interrupted: no output was written (its temporary files were removed).");
        }
        catch (IOException e)
        {
            throw CliException.Failure($"could not write '{outputPath}': {e.Message} (it needed about {Summary.Bytes(plan.EstimatedOutputBytes)}); no output was written.", e);
        }
        finally
        {
            foreach (var s in signals) s.Dispose();
        }
    }

    // The free space of the output's file system against the output's size (known from the plan to within its headers).
    private static void CheckSpace(string folder, QuantizePlan plan)
    {
        long free;
        try
        {
            free = new DriveInfo(folder).AvailableFreeSpace;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return; // Unknown here: a full disk is then reported when a write fails.
        }
        long needed = plan.EstimatedOutputBytes;
        if (free < needed)
            throw CliException.Failure($"not enough disk space for '{plan.OutputPath}': it needs about {Summary.Bytes(needed)} and {folder} has {Summary.Bytes(free)} free.");
    }

    private static QuantizeReport WithProgress(CliContext context, QuantizePlan plan, CheckpointQuantizerOptions options, CancellationToken cancellation)
    {
        bool dumb = string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal);
        if (!context.IsTerminal || dumb) return RunPlain(context, plan, options, cancellation);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(context.Out),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
        });
        QuantizeReport? report = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Describe(0, plan.Units.Count, ""), maxValue: Math.Max(1, plan.InputBytes));
                report = CheckpointQuantizer.Run(plan, options, p =>
                {
                    task.Value = p.InputBytesDone;
                    task.Description = Describe(p.UnitsDone, p.UnitsTotal, p.Step.OutputName);
                }, cancellation);
                task.Value = task.MaxValue;
            });
        return report!;
    }

    private static string Describe(int done, int total, string current) =>
        Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"layers {done}/{total} {(current.Length > 40 ? "..." + current[^37..] : current)}"));

    // Off a terminal: a line at most every 2 seconds and at the end, so logs stay short.
    private static QuantizeReport RunPlain(CliContext context, QuantizePlan plan, CheckpointQuantizerOptions options, CancellationToken cancellation)
    {
        var last = TimeSpan.Zero;
        context.Out.WriteLine(Summary.Text($"quantize: {plan.Units.Count} layers and {plan.Steps.Count - plan.Steps.OfType<LinearStep>().Count()} other tensors, {Summary.Bytes(plan.InputBytes)} to read"));
        // Flushed line by line: a log or a pipe sees the progress as it happens.
        context.Out.Flush();
        return CheckpointQuantizer.Run(plan, options, p =>
        {
            if (p.StepsDone != p.StepsTotal && p.Elapsed - last < TimeSpan.FromSeconds(2)) return;
            last = p.Elapsed;
            double rate = p.InputBytesDone / Math.Max(p.Elapsed.TotalSeconds, 1e-9);
            context.Out.WriteLine(Summary.Text(
                $"quantize: layers {p.UnitsDone}/{p.UnitsTotal}, {Summary.Bytes(p.InputBytesDone)} / {Summary.Bytes(p.InputBytesTotal)} ({100.0 * p.InputBytesDone / Math.Max(1, p.InputBytesTotal):0}%), {Summary.Bytes((long)rate)}/s, {p.Elapsed.TotalSeconds:0.0} s"));
            context.Out.Flush();
        }, cancellation);
    }
}
