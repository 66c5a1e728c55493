using System;

namespace Quant.Runtime.Distributed;

/// <summary>
/// The collectives that tensor-parallel layers need, across the ranks of one group: an in-process group
/// (one rank per thread, <see cref="InProcessComm"/>) or processes started by <c>mpirun</c> (<see cref="MpiComm"/>).
/// Every rank of the group calls each collective in the same order with the same lengths; every rank
/// receives bit-identical results (sums are taken in rank order).
/// </summary>
/// <remarks>
/// <para>
/// Thread-safety: one comm belongs to one rank, and that rank calls it from one thread at a time (an
/// in-process group runs each rank on its own thread). Calling one comm from two threads at once throws
/// <see cref="InvalidOperationException"/>.
/// </para>
/// <para>
/// Failures: every rank of a collective agrees on the outcome. When the ranks disagree on what they
/// call (another collective, another length or root) every rank throws a <see cref="CommException"/> that
/// says so, and the group stays usable. When one rank passes an argument that is wrong on its own (a
/// <c>gathered</c> span of the wrong length, a root out of range), that rank throws
/// <see cref="ArgumentException"/> and the others a <see cref="CommException"/> that names it. When a rank
/// fails outside the collectives it calls <see cref="Abort"/>, so that the other ranks do not wait for it
/// forever.
/// </para>
/// </remarks>
public interface IComm : IDisposable
{
    /// <summary>This rank, in <c>[0, WorldSize)</c>.</summary>
    int Rank { get; }

    /// <summary>The number of ranks in the group.</summary>
    int WorldSize { get; }

    /// <summary>
    /// Replaces <paramref name="values"/> on every rank by the element-wise sum over all ranks, taken in
    /// rank order: <c>((v0 + v1) + v2) + ...</c> in float32, starting from rank 0's value (so a sum of
    /// negative zeros stays <c>-0</c>). Every rank receives the same bits.
    /// </summary>
    /// <exception cref="CommException">The ranks disagree on the collective or the length, or the group failed.</exception>
    void SumAllReduce(Span<float> values);

    /// <summary>
    /// Concatenates every rank's <paramref name="local"/> in rank order into <paramref name="gathered"/>
    /// (length <c>local.Length * WorldSize</c>) on every rank.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="gathered"/> is not <c>local.Length * WorldSize</c> long.</exception>
    /// <exception cref="CommException">The ranks disagree on the collective or the length, or the group failed.</exception>
    void AllGather(ReadOnlySpan<float> local, Span<float> gathered);

    /// <inheritdoc cref="AllGather(ReadOnlySpan{float}, Span{float})"/>
    void AllGather(ReadOnlySpan<byte> local, Span<byte> gathered);

    /// <summary>Replaces <paramref name="values"/> on every rank by those of rank <paramref name="root"/>.</summary>
    /// <param name="values">The values to send (on <paramref name="root"/>) or to overwrite (elsewhere); the same length on every rank.</param>
    /// <param name="root">The rank whose values every rank receives; the same on every rank.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="root"/> is not in <c>[0, WorldSize)</c>.</exception>
    /// <exception cref="CommException">The ranks disagree on the collective, the length or the root, or the group failed.</exception>
    void Broadcast(Span<float> values, int root);

    /// <inheritdoc cref="Broadcast(Span{float}, int)"/>
    void Broadcast(Span<byte> values, int root);

    /// <summary>Returns when every rank has called it.</summary>
    /// <exception cref="CommException">The ranks disagree on the collective, or the group failed.</exception>
    void Barrier();

    /// <summary>
    /// Ends the group for every rank because this one has failed, instead of leaving the others to wait
    /// for it in their next collective. In process, every rank waiting in a collective (or entering one
    /// later) throws <see cref="CommAbortedException"/> carrying <paramref name="reason"/>, and this call
    /// returns. Under MPI, <paramref name="reason"/> goes to stderr and <c>MPI_Abort</c> ends every process
    /// of the job: the call does not return.
    /// </summary>
    /// <param name="reason">Why the rank failed, for the other ranks' exceptions or the job's stderr.</param>
    /// <param name="cause">The exception the rank failed with, when there is one.</param>
    void Abort(string reason, Exception? cause = null);
}
