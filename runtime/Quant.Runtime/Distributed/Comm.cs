using System;
using System.Collections.Generic;

namespace Quant.Runtime.Distributed;

/// <summary>Which transport the ranks of a tensor-parallel group talk through.</summary>
public enum CommKind
{
    /// <summary>Every rank is a thread of this process (<see cref="InProcessComm"/>); named <c>inproc</c>.</summary>
    InProcess,

    /// <summary>Every rank is a process of an MPI job started by <c>mpirun</c> (<see cref="MpiComm"/>); named <c>mpi</c>.</summary>
    Mpi,
}

/// <summary>One rank's result of <see cref="Comm.Run{T}"/>.</summary>
/// <param name="Rank">The rank that returned it.</param>
/// <param name="Value">What its body returned.</param>
public readonly record struct RankResult<T>(int Rank, T Value);

/// <summary>
/// The entry point a command line uses to get its comms: parses <c>--comm inproc|mpi</c>, creates the
/// ranks that live in this process and runs a body on each.
/// </summary>
public static class Comm
{
    /// <summary>The names <see cref="TryParseKind"/> accepts, in the order help texts list them.</summary>
    public static IReadOnlyList<string> KindNames { get; } = ["inproc", "mpi"];

    /// <summary>The name of <paramref name="kind"/> on the command line: <c>inproc</c> or <c>mpi</c>.</summary>
    public static string Name(CommKind kind) => kind switch
    {
        CommKind.InProcess => "inproc",
        CommKind.Mpi => "mpi",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Parses a name of <see cref="KindNames"/> (case-insensitive); false for anything else.</summary>
    public static bool TryParseKind(string? name, out CommKind kind)
    {
        switch (name?.Trim().ToLowerInvariant())
        {
            case "inproc":
            case "in-process":
                kind = CommKind.InProcess;
                return true;
            case "mpi":
                kind = CommKind.Mpi;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    /// <summary>
    /// Creates the comms of the ranks that run in this process: <paramref name="worldSize"/> comms of a new
    /// in-process group (one per thread), or this process's single rank of the MPI job.
    /// </summary>
    /// <param name="kind">The transport.</param>
    /// <param name="worldSize">
    /// The number of ranks. For <see cref="CommKind.Mpi"/> it must equal the job's size (mpirun's
    /// <c>-np</c>), or be 0 to take whatever the job has.
    /// </param>
    /// <param name="collectiveTimeout">In process, how long a rank waits for the others in one collective (see <see cref="InProcessComm.CreateGroup"/>); ignored by MPI.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="worldSize"/> is out of range.</exception>
    /// <exception cref="CommException">MPI is not available, or its world is not <paramref name="worldSize"/> ranks.</exception>
    public static IComm[] Create(CommKind kind, int worldSize, TimeSpan? collectiveTimeout = null)
    {
        switch (kind)
        {
            case CommKind.InProcess:
                // A real IComm[], not the InProcessComm[] itself: array covariance would make stores of other comms throw.
                return [.. InProcessComm.CreateGroup(worldSize, collectiveTimeout)];
            case CommKind.Mpi:
                ArgumentOutOfRangeException.ThrowIfNegative(worldSize);
                var comm = MpiComm.Create();
                if (worldSize != 0 && comm.WorldSize != worldSize)
                {
                    int actual = comm.WorldSize;
                    comm.Dispose();
                    throw new CommException($"{worldSize} ranks were asked for, but mpirun started {actual} processes; run 'mpirun -np {worldSize} ...'.");
                }
                return [comm];
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> on every rank that lives in this process and returns their results in
    /// rank order: every rank of an in-process group (<see cref="InProcessComm.Run{T}"/>), or this process's
    /// rank of the MPI job. The comms are disposed afterwards.
    /// </summary>
    /// <param name="kind">The transport.</param>
    /// <param name="worldSize">As for <see cref="Create"/>.</param>
    /// <param name="body">The work of one rank.</param>
    /// <param name="collectiveTimeout">As for <see cref="Create"/>.</param>
    /// <exception cref="Exception">
    /// In process, the first exception of a rank's body, after every rank has stopped. Under MPI, an
    /// exception from the body aborts the whole job (<see cref="MpiComm.Abort"/>): this method does not
    /// return then, so that no other rank waits for this one.
    /// </exception>
    public static RankResult<T>[] Run<T>(CommKind kind, int worldSize, Func<IComm, T> body, TimeSpan? collectiveTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (kind == CommKind.InProcess)
        {
            var values = InProcessComm.Run(worldSize, body, collectiveTimeout);
            var results = new RankResult<T>[values.Length];
            for (int r = 0; r < values.Length; r++) results[r] = new RankResult<T>(r, values[r]);
            return results;
        }
        var comm = Create(kind, worldSize, collectiveTimeout)[0];
        T value;
        try
        {
            value = body(comm);
        }
        catch (Exception e)
        {
            comm.Abort($"{e.GetType().Name}: {e.Message}", e);
            throw;
        }
        comm.Dispose();
        return [new RankResult<T>(comm.Rank, value)];
    }
}
