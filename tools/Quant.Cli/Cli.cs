using System;
using System.Collections.Generic;
using System.CommandLine;
using System.CommandLine.Help;
using System.IO;
using System.Linq;
using Quant.Cli.Commands;
using Quant.Kernels;

namespace Quant.Cli;

/// <summary>
/// The <c>quant</c> command, runnable in-process: <see cref="Run"/> parses the arguments, runs the
/// command and returns the exit code, writing only to the writers it is given.
/// </summary>
/// <remarks>
/// Exit codes (<see cref="ExitCodes"/>): 0 success; 1 an output could not be written or an internal
/// error; 2 a usage error (unknown command or option, missing argument, unknown format or rule, a
/// <c>--cols</c> that is not a multiple of the block size); 3 bad data (missing input, a size that does
/// not divide into rows, a truncated or corrupt UQFF blob). Every failure writes exactly one line to
/// stderr; outputs are written atomically, so a failure leaves no output file and an existing one untouched.
/// </remarks>
public static class Cli
{
    /// <summary>Runs <c>quant</c> with <paramref name="args"/>.</summary>
    /// <param name="args">The arguments, without the program name.</param>
    /// <param name="stdout">Where results, tables and help go.</param>
    /// <param name="stderr">Where the one line about a failure goes.</param>
    /// <returns>The exit code.</returns>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        // Colours and Unicode borders only when the writer really is an interactive console.
        bool terminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        var context = new CliContext(stdout, stderr, terminal);
        try
        {
            if (!BitConverter.IsLittleEndian)
            {
                return context.Fail(ExitCodes.Failure, "raw files and UQFF blobs are little-endian; this tool runs only on little-endian machines.");
            }
            QuantCatalog.EnsureRegistered();
            var root = CreateRoot(context);
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0)
            {
                return context.Fail(ExitCodes.Usage, ParseErrorLine(parse));
            }
            int code = parse.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                // Actions catch their own exceptions (CliContext.Guard); anything else is reported below, in one line.
                EnableDefaultExceptionHandler = false,
            });
            stdout.Flush();
            return code;
        }
        catch (Exception e)
        {
            return context.Report(e);
        }
    }

    /// <summary>
    /// The command tree. The root is a plain command named <c>quant</c> (not <see cref="RootCommand"/>,
    /// whose name is the host executable's, <c>testhost</c> under a test runner), with help and version
    /// options added the way <see cref="RootCommand"/> adds them.
    /// </summary>
    private static Command CreateRoot(CliContext context)
    {
        var root = new Command("quant",
            "Block quantization formats for neural-network weights: list them, quantize whole checkpoints to UQFF or GGUF and back, quantize raw files, inspect model files, run the demo.\n"
            + "Exit codes: 0 success, 1 an output could not be written, 2 usage error, 3 bad input data.");
        root.Options.Add(new HelpOption { Recursive = true });
        root.Options.Add(new VersionOption());
        root.Subcommands.Add(FormatsCommand.Create(context));
        root.Subcommands.Add(RawCommand.Create(context));
        root.Subcommands.Add(QuantizeCommand.Create(context));
        root.Subcommands.Add(DequantizeCommand.Create(context));
        root.Subcommands.Add(InspectCommand.Create(context));
        root.Subcommands.Add(DemoCommand.Create(context));
        root.Subcommands.Add(AccuracyCommand.Create(context));
        root.Subcommands.Add(CommCheckCommand.Create(context));
        root.Subcommands.Add(BenchCommand.Create(context));
        return root;
    }

    /// <summary>Every parse error in one line, with the help command that shows the usage.</summary>
    private static string ParseErrorLine(ParseResult parse)
    {
        var path = new List<string>();
        for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
        {
            path.Add(result.Command.Name);
        }
        path.Reverse();
        string errors = string.Join("; ", parse.Errors.Select(e => CliContext.OneLine(e.Message)).Distinct());
        return $"{errors} (see '{string.Join(' ', path)} --help')";
    }
}
