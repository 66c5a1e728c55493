using System;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Quant.Runtime.Distributed;

/// <summary>
/// One rank of a group that lives in this process, one rank per thread: the default comm, and the one
/// the tests use for world sizes 1 to 8. <see cref="Run{T}"/> starts the threads; <see cref="CreateGroup"/>
/// hands out the comms for threads of the caller's own.
/// </summary>
/// <remarks>
/// Each collective copies this rank's payload into a per-rank scratch slot of the group, waits once for
/// every rank, then reads the other ranks' slots: sums are taken in rank order by every rank, so every
/// rank gets the same bits. The slots grow to the largest payload and are reused, so steady state
/// allocates nothing. With one rank every collective is a copy at most. A rank that fails aborts the group
/// (<see cref="Abort"/>; <see cref="Run{T}"/> does it for the body's exceptions), and a rank that leaves
/// (<see cref="Dispose"/>) while others wait for it aborts it too: the others throw
/// <see cref="CommAbortedException"/> instead of waiting forever.
/// </remarks>
public sealed class InProcessComm : IComm
{
    /// <summary>The largest group <see cref="CreateGroup"/> makes: one thread per rank.</summary>
    public const int MaxWorldSize = 256;

    private readonly InProcessGroup _group;
    private long _sequence;
    private int _busy;
    private bool _disposed;

    private InProcessComm(InProcessGroup group, int rank)
    {
        _group = group;
        Rank = rank;
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int WorldSize => _group.WorldSize;

    /// <summary>Creates a group of <paramref name="worldSize"/> ranks; element <c>r</c> is rank <c>r</c>'s comm, for one thread each.</summary>
    /// <param name="worldSize">The number of ranks, 1 to <see cref="MaxWorldSize"/>.</param>
    /// <param name="collectiveTimeout">
    /// How long a rank waits in one collective for the others before the group is aborted (every rank
    /// then throws <see cref="CommAbortedException"/>); null or <see cref="Timeout.InfiniteTimeSpan"/> waits forever.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="worldSize"/> or <paramref name="collectiveTimeout"/> is out of range.</exception>
    public static InProcessComm[] CreateGroup(int worldSize, TimeSpan? collectiveTimeout = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(worldSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(worldSize, MaxWorldSize);
        if (collectiveTimeout is { } t && t <= TimeSpan.Zero && t != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(collectiveTimeout), t, "The timeout must be positive (null or Timeout.InfiniteTimeSpan waits forever).");
        }
        var group = new InProcessGroup(worldSize, collectiveTimeout ?? Timeout.InfiniteTimeSpan);
        var comms = new InProcessComm[worldSize];
        for (int r = 0; r < worldSize; r++) comms[r] = new InProcessComm(group, r);
        return comms;
    }

    /// <summary>
    /// Runs <paramref name="body"/> once per rank of a new group, rank 0 on the calling thread and every
    /// other rank on a thread of its own, and returns each rank's result (element <c>r</c> from rank
    /// <c>r</c>). Each comm is disposed when its body returns.
    /// </summary>
    /// <param name="worldSize">The number of ranks, 1 to <see cref="MaxWorldSize"/>.</param>
    /// <param name="body">The work of one rank.</param>
    /// <param name="collectiveTimeout">As for <see cref="CreateGroup"/>.</param>
    /// <exception cref="Exception">
    /// When a rank's body throws, the group is aborted (the other ranks' collectives throw
    /// <see cref="CommAbortedException"/>), every thread is joined, and the exception of the rank that
    /// failed first is rethrown with its original stack trace.
    /// </exception>
    public static T[] Run<T>(int worldSize, Func<IComm, T> body, TimeSpan? collectiveTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        var comms = CreateGroup(worldSize, collectiveTimeout);
        var results = new T[worldSize];
        var failures = new Exception?[worldSize];

        void RunRank(int rank)
        {
            var comm = comms[rank];
            try
            {
                results[rank] = body(comm);
            }
            catch (Exception e)
            {
                failures[rank] = e;
                comm.Abort($"{e.GetType().Name}: {e.Message}", e);
            }
            finally
            {
                comm.Dispose();
            }
        }

        var threads = new Thread[worldSize];
        for (int r = 1; r < worldSize; r++)
        {
            int rank = r;
            threads[r] = new Thread(() => RunRank(rank)) { IsBackground = true, Name = $"quant rank {rank}/{worldSize}" };
            threads[r].Start();
        }
        RunRank(0);
        for (int r = 1; r < worldSize; r++) threads[r].Join();

        // The exception that caused the abort, not the CommAbortedExceptions it caused on the other ranks.
        if (comms[0]._group.AbortedBy is { Rank: >= 0 } abort && failures[abort.Rank] is { } cause)
        {
            ExceptionDispatchInfo.Throw(cause);
        }
        foreach (var failure in failures)
        {
            if (failure is not null) ExceptionDispatchInfo.Throw(failure);
        }
        return results;
    }

    /// <summary>As <see cref="Run{T}"/>, for a body without a result.</summary>
    public static void Run(int worldSize, Action<IComm> body, TimeSpan? collectiveTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        Run(worldSize, comm =>
        {
            body(comm);
            return 0;
        }, collectiveTimeout);
    }

    /// <inheritdoc/>
    public void SumAllReduce(Span<float> values)
    {
        Enter();
        try
        {
            if (WorldSize == 1) return;
            Exchange(CollectiveOp.SumAllReduceFloat, values.Length, 0, MemoryMarshal.AsBytes(values), null);
            long sequence = _sequence - 1;
            int bytes = values.Length * sizeof(float);
            MemoryMarshal.Cast<byte, float>(_group.Slot(sequence, 0, bytes)).CopyTo(values);
            for (int r = 1; r < WorldSize; r++)
            {
                Collective.Add(values, MemoryMarshal.Cast<byte, float>(_group.Slot(sequence, r, bytes)));
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<float> local, Span<float> gathered)
        => AllGather(CollectiveOp.AllGatherFloat, MemoryMarshal.AsBytes(local), local.Length, MemoryMarshal.AsBytes(gathered), gathered.Length);

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<byte> local, Span<byte> gathered)
        => AllGather(CollectiveOp.AllGatherByte, local, local.Length, gathered, gathered.Length);

    /// <inheritdoc/>
    public void Broadcast(Span<float> values, int root)
        => Broadcast(CollectiveOp.BroadcastFloat, MemoryMarshal.AsBytes(values), values.Length, root);

    /// <inheritdoc/>
    public void Broadcast(Span<byte> values, int root)
        => Broadcast(CollectiveOp.BroadcastByte, values, values.Length, root);

    /// <inheritdoc/>
    public void Barrier()
    {
        Enter();
        try
        {
            if (WorldSize > 1) Exchange(CollectiveOp.Barrier, 0, 0, default, null);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Aborts the group: every rank waiting in a collective, or entering one later (this one included),
    /// throws <see cref="CommAbortedException"/> with <paramref name="reason"/>. Returns; only the first
    /// abort of a group is reported.
    /// </summary>
    /// <inheritdoc cref="IComm.Abort"/>
    public void Abort(string reason, Exception? cause = null)
    {
        ArgumentNullException.ThrowIfNull(reason);
        _group.Abort(Rank, reason, cause);
    }

    /// <summary>
    /// Leaves the group. Ranks that wait for this one in a collective, or call one later, throw
    /// <see cref="CommAbortedException"/> (they would wait forever otherwise); ranks that have finished
    /// their collectives are not affected.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _group.Depart(Rank);
    }

    private void AllGather(CollectiveOp op, ReadOnlySpan<byte> local, int count, Span<byte> gathered, int gatheredCount)
    {
        Enter();
        try
        {
            string? invalid = (long)count * WorldSize == gatheredCount ? null
                : $"rank {Rank}: {Collective.Name(op)} needs a gathered span of local.Length * WorldSize = {count} * {WorldSize} = {(long)count * WorldSize} elements; it has {gatheredCount}.";
            if (WorldSize == 1)
            {
                if (invalid is not null) throw new ArgumentException(invalid, nameof(gathered));
                local.CopyTo(gathered);
                return;
            }
            Exchange(op, count, 0, invalid is null ? local : default, invalid);
            long sequence = _sequence - 1;
            for (int r = 0; r < WorldSize; r++)
            {
                _group.Slot(sequence, r, local.Length).CopyTo(gathered.Slice(r * local.Length, local.Length));
            }
        }
        finally
        {
            Exit();
        }
    }

    private void Broadcast(CollectiveOp op, Span<byte> values, int count, int root)
    {
        Enter();
        try
        {
            string? invalid = (uint)root < (uint)WorldSize ? null
                : $"rank {Rank}: the root of {Collective.Name(op)} must be a rank in [0, {WorldSize}); it is {root}.";
            if (WorldSize == 1)
            {
                if (invalid is not null) throw new ArgumentOutOfRangeException(nameof(root), root, invalid);
                return;
            }
            Exchange(op, count, root, root == Rank ? values : default, invalid);
            if (root != Rank) _group.Slot(_sequence - 1, root, values.Length).CopyTo(values);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Publishes this rank's header and payload, waits for every rank, and checks that they all announced
    /// the same collective. On return <c>_sequence - 1</c> is this collective's number and its slots may be read.
    /// </summary>
    private void Exchange(CollectiveOp op, long count, int root, ReadOnlySpan<byte> payload, string? invalid)
    {
        long sequence = _sequence;
        var header = new CollectiveHeader(op, count, root, sequence, invalid is not null);
        _group.Publish(Rank, sequence, header, payload);
        _group.Arrive(Rank, sequence, op);
        _sequence = sequence + 1;
        if (Collective.Disagreement(_group.Headers(sequence)) is { } disagreement)
        {
            if (invalid is null) throw new CommException(disagreement);
            if (op is CollectiveOp.BroadcastFloat or CollectiveOp.BroadcastByte) throw new ArgumentOutOfRangeException("root", invalid);
            throw new ArgumentException(invalid);
        }
    }

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException($"rank {Rank}: a comm was called from two threads at once; each rank calls its comm from one thread at a time.");
        }
        try
        {
            _group.ThrowIfAborted(Rank);
        }
        catch
        {
            Exit();
            throw;
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);
}
