using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace Quant.Runtime.Distributed;

/// <summary>
/// This process's rank of an MPI job (<c>mpirun -np N ...</c>), one rank per process, over Open MPI's
/// <c>MPI_COMM_WORLD</c> through P/Invoke to <c>libmpi.so.40</c>: the same model runs across processes
/// and, with a host file, across machines.
/// </summary>
/// <remarks>
/// <para>
/// Sums are not <c>MPI_Allreduce</c>. MPI requires an all-reduce to give every rank the same result, but
/// leaves the order of the additions to the algorithm Open MPI picks for the message and group size
/// (recursive doubling, ring, Rabenseifner, ...), and implementations have shipped algorithms that broke
/// even the same-result rule for floats (Open MPI's allgather-reduce all-reduce was fixed for it in 2024;
/// MPICH's recursive-exchange one in 2023). So <see cref="SumAllReduce"/> gathers every rank's values
/// (<c>MPI_Allgather</c>, exact bytes) and every rank adds them itself in rank order, with the code
/// <see cref="InProcessComm"/> uses: the result is the same bits on every rank, under every Open MPI
/// version, and the same as an in-process group of the same size. The cost is <c>WorldSize</c> times the
/// traffic and the additions of a reduce, in chunks of at most 4 MiB of scratch: fine for the activations
/// of tensor-parallel layers, which is what this is for.
/// </para>
/// <para>
/// Before each collective the ranks exchange a small header (the collective, its length and root, its
/// sequence number), so ranks that disagree all throw <see cref="CommException"/> instead of truncating,
/// corrupting memory or hanging.
/// </para>
/// <para>
/// MPI is initialized (<c>MPI_Init_thread</c>, <c>MPI_THREAD_SERIALIZED</c>) by the first
/// <see cref="Create"/> unless the host already did, with errors returned rather than fatal; it is
/// finalized once, by the <see cref="Dispose"/> of the last live comm or at process exit, and only if
/// this class initialized it. After an MPI call has failed it is never finalized (MPI_Finalize would wait
/// for ranks that may be stuck): the process's exit without it makes mpirun end the job. Every comm of
/// the process is a handle to the same world; calls from several threads are serialized, but one rank
/// should call its comm from one thread, in the same collective order as every other rank.
/// </para>
/// </remarks>
public sealed unsafe class MpiComm : IComm
{
    // At most this many floats of gathered values per step of SumAllReduce (4 MiB).
    private const int ScratchFloats = 1 << 20;

    private static readonly object s_gate = new();
    private static int s_live;
    private static bool s_initialized, s_initializedHere, s_finalized, s_faulted, s_exitHooked;
    private static int s_rank, s_size;
    private static long s_sequence;
    private static CollectiveHeader[] s_headers = [];
    private static float[] s_scratch = [];

    private bool _disposed;
    private int _busy;

    private MpiComm(int rank, int worldSize)
    {
        Rank = rank;
        WorldSize = worldSize;
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int WorldSize { get; }

    /// <summary>Whether this process runs under an MPI launcher: <c>OMPI_COMM_WORLD_SIZE</c> (mpirun) or <c>PMIX_RANK</c> (a PMIx launcher) is set.</summary>
    public static bool IsLaunchedByMpi =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PMIX_RANK"));

    /// <summary>Whether <see cref="Create"/> can work here: Open MPI's library loads and this process runs under mpirun.</summary>
    public static bool IsAvailable => UnavailableReason is null;

    /// <summary>Why <see cref="Create"/> cannot work here, or null when it can.</summary>
    public static string? UnavailableReason
    {
        get
        {
            if (!IsLaunchedByMpi)
            {
                return "this process was not started by mpirun (neither OMPI_COMM_WORLD_SIZE nor PMIX_RANK is set); start it as 'mpirun -np N <command>'";
            }
            return MpiNative.TryLoad();
        }
    }

    /// <summary>
    /// This process's rank of <c>MPI_COMM_WORLD</c>, initializing MPI on the first call. Dispose it when
    /// the rank is done; the last one disposed finalizes MPI, which cannot be initialized again.
    /// </summary>
    /// <exception cref="CommException">MPI is not available (<see cref="UnavailableReason"/>) or was already finalized.</exception>
    /// <exception cref="MpiException">An MPI call failed while initializing.</exception>
    public static MpiComm Create()
    {
        lock (s_gate)
        {
            if (UnavailableReason is { } reason) throw new CommException($"MPI is not available: {reason}.");
            if (s_finalized) throw new CommException("MPI was already finalized in this process (the last MpiComm was disposed); it cannot be initialized again.");
            if (!s_initialized) Initialize();
            s_live++;
            return new MpiComm(s_rank, s_size);
        }
    }

    /// <inheritdoc/>
    public void SumAllReduce(Span<float> values)
    {
        Enter();
        try
        {
            if (WorldSize == 1) return;
            lock (s_gate)
            {
                Agree(CollectiveOp.SumAllReduceFloat, values.Length, 0, null);
                int chunk = Math.Max(1, Math.Min(values.Length, ScratchFloats / WorldSize));
                if (s_scratch.Length < chunk * WorldSize) s_scratch = new float[chunk * WorldSize];
                for (int offset = 0; offset < values.Length; offset += chunk)
                {
                    int count = Math.Min(chunk, values.Length - offset);
                    var part = values.Slice(offset, count);
                    fixed (float* send = part)
                    fixed (float* receive = s_scratch)
                    {
                        Check(MpiNative.Allgather(send, count, MpiNative.Float, receive, count, MpiNative.Float, MpiNative.CommWorld), "MPI_Allgather");
                    }
                    s_scratch.AsSpan(0, count).CopyTo(part);
                    for (int r = 1; r < WorldSize; r++) Collective.Add(part, s_scratch.AsSpan(r * count, count));
                }
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<float> local, Span<float> gathered)
        => AllGather(CollectiveOp.AllGatherFloat, MemoryMarshal.AsBytes(local), local.Length, MemoryMarshal.AsBytes(gathered), gathered.Length, MpiNative.Float);

    /// <inheritdoc/>
    public void AllGather(ReadOnlySpan<byte> local, Span<byte> gathered)
        => AllGather(CollectiveOp.AllGatherByte, local, local.Length, gathered, gathered.Length, MpiNative.Byte);

    /// <inheritdoc/>
    public void Broadcast(Span<float> values, int root)
        => Broadcast(CollectiveOp.BroadcastFloat, MemoryMarshal.AsBytes(values), values.Length, root, MpiNative.Float);

    /// <inheritdoc/>
    public void Broadcast(Span<byte> values, int root)
        => Broadcast(CollectiveOp.BroadcastByte, values, values.Length, root, MpiNative.Byte);

    /// <inheritdoc/>
    public void Barrier()
    {
        Enter();
        try
        {
            if (WorldSize == 1) return;
            lock (s_gate)
            {
                Agree(CollectiveOp.Barrier, 0, 0, null);
                Check(MpiNative.Barrier(MpiNative.CommWorld), "MPI_Barrier");
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Writes <paramref name="reason"/> to stderr and ends every process of the job with
    /// <c>MPI_Abort(MPI_COMM_WORLD, 1)</c>; mpirun reports it and exits with an error. Does not return.
    /// </summary>
    /// <inheritdoc cref="IComm.Abort"/>
    public void Abort(string reason, Exception? cause = null)
    {
        ArgumentNullException.ThrowIfNull(reason);
        Console.Error.WriteLine($"MPI rank {Rank}/{WorldSize}: aborting the job: {reason}");
        Console.Error.Flush();
        Console.Out.Flush();
        MpiNative.Abort(MpiNative.CommWorld, 1);
        // MPI_Abort returned: MPI is broken, but this process must still not let the others wait for it.
        Environment.Exit(1);
    }

    /// <summary>
    /// Releases this handle; the last live one finalizes MPI if this class initialized it and no MPI call
    /// has failed. Never throws.
    /// </summary>
    public void Dispose()
    {
        lock (s_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (--s_live == 0) FinalizeLocked();
        }
    }

    private void AllGather(CollectiveOp op, ReadOnlySpan<byte> local, int count, Span<byte> gathered, int gatheredCount, nint type)
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
            lock (s_gate)
            {
                Agree(op, count, 0, invalid);
                if (count == 0) return;
                fixed (byte* send = local)
                fixed (byte* receive = gathered)
                {
                    Check(MpiNative.Allgather(send, count, type, receive, count, type, MpiNative.CommWorld), "MPI_Allgather");
                }
            }
        }
        finally
        {
            Exit();
        }
    }

    private void Broadcast(CollectiveOp op, Span<byte> values, int count, int root, nint type)
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
            lock (s_gate)
            {
                Agree(op, count, root, invalid);
                if (count == 0) return;
                fixed (byte* buffer = values)
                {
                    Check(MpiNative.Bcast(buffer, count, type, root, MpiNative.CommWorld), "MPI_Bcast");
                }
            }
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Exchanges the headers of the next collective and throws on every rank when they disagree. Holds <see cref="s_gate"/>.</summary>
    private static void Agree(CollectiveOp op, long count, int root, string? invalid)
    {
        var header = new CollectiveHeader(op, count, root, s_sequence, invalid is not null);
        fixed (CollectiveHeader* all = s_headers)
        {
            Check(MpiNative.Allgather(&header, CollectiveHeader.Size, MpiNative.Byte, all, CollectiveHeader.Size, MpiNative.Byte, MpiNative.CommWorld), "MPI_Allgather");
        }
        s_sequence++;
        if (Collective.Disagreement(s_headers) is { } disagreement)
        {
            if (invalid is null) throw new CommException(disagreement);
            if (op is CollectiveOp.BroadcastFloat or CollectiveOp.BroadcastByte) throw new ArgumentOutOfRangeException("root", invalid);
            throw new ArgumentException(invalid);
        }
    }

    private static void Initialize()
    {
        int flag = 0;
        Check(MpiNative.Finalized(&flag), "MPI_Finalized");
        if (flag != 0) throw new CommException("MPI was already finalized in this process; it cannot be initialized again.");
        Check(MpiNative.Initialized(&flag), "MPI_Initialized");
        if (flag == 0)
        {
            int provided = 0;
            Check(MpiNative.InitThread(null, null, MpiNative.ThreadSerialized, &provided), "MPI_Init_thread");
            s_initializedHere = true;
            if (!s_exitHooked)
            {
                s_exitHooked = true;
                AppDomain.CurrentDomain.ProcessExit += (_, _) =>
                {
                    lock (s_gate) FinalizeLocked();
                };
            }
        }
        // Errors come back as codes (and so as MpiExceptions) instead of killing the job on the spot.
        Check(MpiNative.CommSetErrhandler(MpiNative.CommWorld, MpiNative.ErrorsReturn), "MPI_Comm_set_errhandler");
        int rank = 0, size = 0;
        Check(MpiNative.CommRank(MpiNative.CommWorld, &rank), "MPI_Comm_rank");
        Check(MpiNative.CommSize(MpiNative.CommWorld, &size), "MPI_Comm_size");
        s_rank = rank;
        s_size = size;
        s_headers = new CollectiveHeader[size];
        s_initialized = true;
    }

    private static void FinalizeLocked()
    {
        if (!s_initializedHere || s_finalized || s_faulted) return;
        s_finalized = true;
        // A failure here has no one left to report to: the process is ending its use of MPI.
        _ = MpiNative.Finalize();
    }

    private static void Check(int code, string function)
    {
        if (code == MpiNative.Success) return;
        s_faulted = true;
        throw new MpiException(function, code,
            $"{function} failed on MPI rank {s_rank} with error {code}: {MpiNative.Describe(code)}. "
            + "MPI cannot be used again in this process; when it exits mpirun ends the job.");
    }

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.Exchange(ref _busy, 1) != 0)
        {
            throw new InvalidOperationException($"rank {Rank}: a comm was called from two threads at once; each rank calls its comm from one thread at a time.");
        }
        if (Volatile.Read(ref s_faulted))
        {
            Exit();
            throw new CommException($"rank {Rank}: an earlier MPI call failed in this process; MPI cannot be used again.");
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);
}
