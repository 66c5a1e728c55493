using System;

namespace Quant.Runtime.Distributed;

/// <summary>
/// A collective that could not complete: the ranks disagree on what they call (another collective,
/// another length or root), a rank left or failed, or the transport failed. The message names the
/// collective, its sequence number in this group and the ranks concerned.
/// </summary>
public class CommException : Exception
{
    /// <summary>Creates the exception with a message that says what went wrong and on which ranks.</summary>
    public CommException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public CommException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>
/// Thrown on the ranks of an in-process group that another rank aborted (<see cref="IComm.Abort"/>,
/// an exception out of an <see cref="InProcessComm.Run{T}"/> body, a comm disposed while others wait for
/// it) or that timed out. The group cannot be used again.
/// </summary>
public sealed class CommAbortedException : CommException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What happened, from this rank's point of view.</param>
    /// <param name="failedRank">The rank that aborted the group, or -1 when the group timed out.</param>
    /// <param name="innerException">The exception the failed rank reported, if any.</param>
    public CommAbortedException(string message, int failedRank, Exception? innerException) : base(message, innerException)
        => FailedRank = failedRank;

    /// <summary>The rank that aborted the group, or -1 when no single rank did (a timeout).</summary>
    public int FailedRank { get; }
}

/// <summary>An MPI call that returned an error code; the message names the call and gives MPI's own text for the code.</summary>
public sealed class MpiException : CommException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="function">The MPI function that failed, such as <c>MPI_Allgather</c>.</param>
    /// <param name="errorCode">The code it returned.</param>
    /// <param name="message">The full message.</param>
    public MpiException(string function, int errorCode, string message) : base(message)
    {
        Function = function;
        ErrorCode = errorCode;
    }

    /// <summary>The MPI function that failed.</summary>
    public string Function { get; }

    /// <summary>The error code it returned (<c>MPI_SUCCESS</c> is 0).</summary>
    public int ErrorCode { get; }
}
