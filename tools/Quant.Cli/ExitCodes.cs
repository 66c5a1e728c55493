namespace Quant.Cli;

/// <summary>The process exit codes of <c>quant</c>. Scripts branch on them, so they never change meaning.</summary>
public static class ExitCodes
{
    /// <summary>The command did what it was asked.</summary>
    public const int Success = 0;

    /// <summary>Something outside the input went wrong: an output file could not be written, or an internal error.</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong: unknown command or option, missing argument, unknown format or rule, a bad <c>--cols</c>.</summary>
    public const int Usage = 2;

    /// <summary>An input is wrong: missing, unreadable, of a size that does not fit the shape, or a corrupt UQFF blob.</summary>
    public const int BadData = 3;

    /// <summary>The run was interrupted (Ctrl+C, SIGTERM) and wrote no output: 128 + SIGINT, as shells report it.</summary>
    public const int Interrupted = 130;
}
