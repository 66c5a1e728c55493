using System;

namespace Quant.Runtime.Distributed;

/// <summary>
/// The collectives that tensor-parallel layers need, across the ranks of one group: an in-process group
/// (one rank per thread, <c>InProcessComm</c>) or processes started by <c>mpirun</c> (<c>MpiComm</c>).
/// Every rank of the group calls each collective in the same order with the same lengths; every rank
/// receives bit-identical results (sums are taken in rank order).
/// </summary>
public interface IComm : IDisposable
{
    /// <summary>This rank, in <c>[0, WorldSize)</c>.</summary>
    int Rank { get; }

    /// <summary>The number of ranks in the group.</summary>
    int WorldSize { get; }

    /// <summary>Replaces <paramref name="values"/> on every rank by the element-wise sum over all ranks.</summary>
    void SumAllReduce(Span<float> values);

    /// <summary>
    /// Concatenates every rank's <paramref name="local"/> in rank order into <paramref name="gathered"/>
    /// (length <c>local.Length * WorldSize</c>) on every rank.
    /// </summary>
    void AllGather(ReadOnlySpan<float> local, Span<float> gathered);

    /// <summary>Returns when every rank has called it.</summary>
    void Barrier();
}
