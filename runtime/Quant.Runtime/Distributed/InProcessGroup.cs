using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Threading;

namespace Quant.Runtime.Distributed;

/// <summary>
/// The state the ranks of one in-process group share: a barrier that can be aborted, and per rank the
/// header and payload it announced for the current collective.
/// </summary>
/// <remarks>
/// Every collective is: publish (header and payload into this rank's slot), one barrier, then read the
/// other ranks' slots. The slots are double-buffered by the parity of the collective's sequence number:
/// a rank can only write the slots of collective <c>k + 2</c> after every rank has reached the barrier of
/// <c>k + 1</c>, that is after every rank has finished reading the slots of <c>k</c>; so one barrier per
/// collective is enough. Each rank grows only its own slots, so steady state allocates nothing.
/// </remarks>
internal sealed class InProcessGroup
{
    // The longest single Monitor.Wait; longer timeouts wait in several steps.
    private static readonly TimeSpan MaxWait = TimeSpan.FromMilliseconds(int.MaxValue - 1);

    private readonly object _gate = new();
    private readonly TimeSpan _timeout;
    private readonly CollectiveHeader[][] _headers;
    private readonly byte[][][] _slots;
    private readonly long[] _arrivedAtGeneration;
    private readonly bool[] _departed;
    private int _arrived;
    private long _generation;
    private Aborted? _aborted;

    public InProcessGroup(int worldSize, TimeSpan timeout)
    {
        WorldSize = worldSize;
        _timeout = timeout;
        _headers = [new CollectiveHeader[worldSize], new CollectiveHeader[worldSize]];
        _slots = new byte[2][][];
        for (int parity = 0; parity < 2; parity++)
        {
            _slots[parity] = new byte[worldSize][];
            Array.Fill(_slots[parity], Array.Empty<byte>());
        }
        _arrivedAtGeneration = new long[worldSize];
        Array.Fill(_arrivedAtGeneration, -1L);
        _departed = new bool[worldSize];
    }

    public int WorldSize { get; }

    /// <summary>The rank that aborted the group first and why, or null.</summary>
    public (int Rank, Exception? Cause)? AbortedBy
    {
        get
        {
            lock (_gate)
            {
                return _aborted is { } a ? (a.Rank, a.Cause) : null;
            }
        }
    }

    /// <summary>The headers of collective <paramref name="sequence"/>; read them only after <see cref="Arrive"/>.</summary>
    public ReadOnlySpan<CollectiveHeader> Headers(long sequence) => _headers[sequence & 1];

    /// <summary>The first <paramref name="length"/> bytes <paramref name="rank"/> published for collective <paramref name="sequence"/>.</summary>
    public ReadOnlySpan<byte> Slot(long sequence, int rank, int length) => _slots[sequence & 1][rank].AsSpan(0, length);

    /// <summary>Publishes this rank's header and payload for collective <paramref name="sequence"/>.</summary>
    public void Publish(int rank, long sequence, in CollectiveHeader header, ReadOnlySpan<byte> payload)
    {
        int parity = (int)(sequence & 1);
        _headers[parity][rank] = header;
        if (payload.IsEmpty) return;
        ref byte[] slot = ref _slots[parity][rank];
        if (slot.Length < payload.Length) slot = new byte[payload.Length];
        payload.CopyTo(slot);
    }

    /// <summary>Throws the abort exception for <paramref name="rank"/> if the group was aborted.</summary>
    public void ThrowIfAborted(int rank)
    {
        if (Volatile.Read(ref _aborted) is { } aborted) throw aborted.For(rank);
    }

    /// <summary>
    /// The barrier of collective <paramref name="sequence"/>: returns when every rank has arrived, which
    /// also makes every slot published before it visible. Throws <see cref="CommAbortedException"/> when
    /// the group is or gets aborted, a rank has left, or the wait passes the group's timeout.
    /// </summary>
    public void Arrive(int rank, long sequence, CollectiveOp op)
    {
        lock (_gate)
        {
            if (_aborted is { } aborted) throw aborted.For(rank);
            int departed = Array.IndexOf(_departed, true);
            if (departed >= 0)
            {
                throw AbortLocked(departed, $"rank {departed} left the group (its comm was disposed) before {Describe(op, sequence)}", null).For(rank);
            }
            long generation = _generation;
            _arrivedAtGeneration[rank] = generation;
            if (++_arrived == WorldSize)
            {
                _arrived = 0;
                _generation++;
                Monitor.PulseAll(_gate);
                return;
            }
            long start = Stopwatch.GetTimestamp();
            while (_generation == generation)
            {
                if (_aborted is { } a) throw a.For(rank);
                if (_timeout == Timeout.InfiniteTimeSpan)
                {
                    Monitor.Wait(_gate);
                    continue;
                }
                TimeSpan left = _timeout - Stopwatch.GetElapsedTime(start);
                if (left > TimeSpan.Zero)
                {
                    Monitor.Wait(_gate, left < MaxWait ? left : MaxWait);
                    continue;
                }
                if (_aborted is null)
                {
                    AbortLocked(-1, $"rank {rank} waited {_timeout.TotalSeconds:0.###} s in {Describe(op, sequence)} for "
                        + Collective.Ranks(RanksAt(generation, arrived: false)) + ", which never arrived", null);
                }
            }
        }
    }

    /// <summary>
    /// Ends the group: every rank waiting in a collective, or entering one later, throws. The first abort
    /// is the one reported; later ones are ignored.
    /// </summary>
    public void Abort(int rank, string reason, Exception? cause)
    {
        lock (_gate)
        {
            AbortLocked(rank, reason, cause);
        }
    }

    /// <summary>
    /// <paramref name="rank"/> leaves the group. Ranks waiting for it in a collective, or entering one
    /// later, would wait forever, so they are aborted.
    /// </summary>
    public void Depart(int rank)
    {
        lock (_gate)
        {
            _departed[rank] = true;
            if (_arrived > 0 && _aborted is null)
            {
                AbortLocked(rank, $"rank {rank} left the group (its comm was disposed) while {Collective.Ranks(RanksAt(_generation, arrived: true))} waited for it in a collective", null);
            }
        }
    }

    private Aborted AbortLocked(int rank, string reason, Exception? cause)
    {
        if (_aborted is null)
        {
            Volatile.Write(ref _aborted, new Aborted(rank, reason, cause));
            Monitor.PulseAll(_gate);
        }
        return _aborted;
    }

    /// <summary>The ranks that have (<paramref name="arrived"/>) or have not reached the barrier of <paramref name="generation"/>.</summary>
    private List<int> RanksAt(long generation, bool arrived)
    {
        var ranks = new List<int>();
        for (int r = 0; r < WorldSize; r++)
        {
            if ((_arrivedAtGeneration[r] == generation) == arrived) ranks.Add(r);
        }
        return ranks;
    }

    private static string Describe(CollectiveOp op, long sequence) => $"{Collective.Name(op)} (collective #{sequence})";

    private sealed record Aborted(int Rank, string Reason, Exception? Cause)
    {
        public CommAbortedException For(int rank) => Rank == rank
            ? new CommAbortedException($"rank {rank}: this rank aborted the group: {Reason}", Rank, Cause)
            : Rank < 0
                ? new CommAbortedException($"rank {rank}: the group timed out: {Reason}", Rank, Cause)
                : new CommAbortedException($"rank {rank}: the group was aborted by rank {Rank}: {Reason}", Rank, Cause);
    }
}
