using System;

namespace Quant;

/// <summary>
/// Input that does not fit a format or a file format: a wrong length, a truncated or corrupt file, an
/// unknown type id. The message says what is wrong and where (a byte offset, a tensor or key name).
/// </summary>
public class QuantFormatException : Exception
{
    /// <summary>Creates the exception with a message that says what is wrong and where.</summary>
    public QuantFormatException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public QuantFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates an exception about a byte offset in a named input.</summary>
    public QuantFormatException(string message, long offset) : base(message) => Offset = offset;

    /// <summary>The byte offset the error was found at, or -1.</summary>
    public long Offset { get; } = -1;
}
