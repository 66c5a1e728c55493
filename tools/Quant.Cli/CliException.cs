using System;

namespace Quant.Cli;

/// <summary>
/// An error the command reports to its user: one line of text and the exit code it maps to. Commands
/// throw it instead of printing, so that every failure path goes through the one place that writes
/// stderr and picks the exit code.
/// </summary>
internal sealed class CliException : Exception
{
    private CliException(int exitCode, string message, Exception? inner = null) : base(message, inner) => ExitCode = exitCode;

    /// <summary>The exit code the process ends with (<see cref="ExitCodes"/>).</summary>
    public int ExitCode { get; }

    /// <summary>A command line that asks for something that cannot be (exit 2).</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    /// <summary>An input that does not hold what the command line says it should (exit 3).</summary>
    public static CliException BadData(string message, Exception? inner = null) => new(ExitCodes.BadData, message, inner);

    /// <summary>A run stopped by Ctrl+C or SIGTERM (exit 130, as shells report SIGINT).</summary>
    public static CliException Interrupted(string message) => new(ExitCodes.Interrupted, message);

    /// <summary>A failure outside the input, such as an output that cannot be written (exit 1).</summary>
    public static CliException Failure(string message, Exception? inner = null) => new(ExitCodes.Failure, message, inner);
}
