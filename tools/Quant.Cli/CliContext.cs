using System;
using System.IO;
using System.Text.RegularExpressions;
using Spectre.Console;

namespace Quant.Cli;

/// <summary>
/// Where one run of the command writes, and the one place that turns a failure into a stderr line and
/// an exit code. Everything goes through the writers given to <see cref="Cli.Run"/>, never through
/// <see cref="Console"/>, so tests can run the command in-process.
/// </summary>
internal sealed class CliContext(TextWriter output, TextWriter error, bool isTerminal)
{
    /// <summary>Standard output.</summary>
    public TextWriter Out { get; } = output;

    /// <summary>Standard error: exactly one line per failed run.</summary>
    public TextWriter Error { get; } = error;

    /// <summary>True when <see cref="Out"/> is an interactive terminal (colours and Unicode borders allowed).</summary>
    public bool IsTerminal { get; } = isTerminal;

    /// <summary>
    /// A Spectre console over <see cref="Out"/>. Off a terminal it emits no ANSI sequences, uses ASCII
    /// borders and a wide fixed width, so redirected tables stay plain text that does not wrap at 80.
    /// </summary>
    public IAnsiConsole CreateConsole()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = IsTerminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = IsTerminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            // The default enrichers change the profile on CI hosts; the output must not depend on where it runs.
            Enrichment = new ProfileEnrichment { UseDefaultEnrichers = false },
        });
        if (!IsTerminal)
        {
            console.Profile.Width = 240;
            console.Profile.Capabilities.Unicode = false;
        }
        return console;
    }

    /// <summary>The border tables use: rounded on a terminal, ASCII elsewhere.</summary>
    public TableBorder TableBorder => IsTerminal ? TableBorder.Rounded : TableBorder.Ascii2;

    /// <summary>Runs a command body; any exception becomes one stderr line and its exit code.</summary>
    public int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    /// <summary>Writes the one stderr line for <paramref name="exception"/> and returns its exit code. Never a stack trace.</summary>
    public int Report(Exception exception) => exception switch
    {
        CliException e => Fail(e.ExitCode, e.Message),
        // The contracts throw it for input that does not fit a format: that is bad data by definition.
        QuantFormatException e => Fail(ExitCodes.BadData, e.Message),
        // A collective that could not complete, or a transport that is missing (MPI outside mpirun): not the input's fault.
        Quant.Runtime.Distributed.CommException e => Fail(ExitCodes.Failure, e.Message),
        OutOfMemoryException => Fail(ExitCodes.Failure, "out of memory: the input is too large for this machine."),
        Runtime.OpenCl.OpenClException e => Fail(ExitCodes.Failure, "OpenCL: " + e.Message),
        _ => Fail(ExitCodes.Failure, $"internal error ({exception.GetType().Name}): {exception.Message}"),
    };

    /// <summary>Writes <paramref name="message"/> to stderr as one line and returns <paramref name="exitCode"/>.</summary>
    public int Fail(int exitCode, string message)
    {
        Error.WriteLine("quant: error: " + OneLine(message));
        Error.Flush();
        return exitCode;
    }

    /// <summary>Folds line breaks and tabs into single spaces, so a message from anywhere stays one tidy stderr line.</summary>
    public static string OneLine(string message)
        => Regex.Replace(message, @"\s+", " ").Trim();
}
