using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace Quant.Kernels;

/// <summary>A piece of parallel work: <see cref="Execute"/> runs once on each of <c>workers</c> threads.</summary>
public interface IParallelJob
{
    /// <summary>Runs this worker's share. Workers usually claim chunks from a shared counter, so shares balance themselves.</summary>
    /// <param name="worker">0 to <paramref name="workers"/> - 1; 0 is the calling thread.</param>
    /// <param name="workers">How many workers run the job.</param>
    void Execute(int worker, int workers);
}

/// <summary>
/// The threads the kernels run on: dedicated background threads, created once and woken per call, so a
/// GEMV allocates nothing and creates no thread. The calling thread is worker 0. Calls are serialised;
/// a call made from inside a job runs inline on the calling thread.
/// </summary>
public sealed class QuantThreadPool : IDisposable
{
    private static readonly Lazy<QuantThreadPool> s_shared = new(() => new QuantThreadPool(Environment.ProcessorCount));

    [ThreadStatic]
    private static bool t_insideJob;

    private readonly object _gate = new();
    private readonly Thread?[] _threads;
    private readonly SemaphoreSlim[] _wake;
    private IParallelJob? _job;
    private int _workers;
    private int _pending;
    private ExceptionDispatchInfo? _failure;
    private volatile bool _disposed;

    /// <summary>Creates a pool that runs jobs on up to <paramref name="maxThreads"/> threads (the caller included).</summary>
    public QuantThreadPool(int maxThreads)
    {
        if (maxThreads < 1) throw new ArgumentOutOfRangeException(nameof(maxThreads), "A pool needs at least one thread.");
        MaxThreads = maxThreads;
        _threads = new Thread?[maxThreads];
        _wake = new SemaphoreSlim[maxThreads];
        for (int i = 0; i < maxThreads; i++) _wake[i] = new SemaphoreSlim(0);
    }

    /// <summary>The process-wide pool, one thread per logical processor.</summary>
    public static QuantThreadPool Shared => s_shared.Value;

    /// <summary>The most threads a job can run on.</summary>
    public int MaxThreads { get; }

    /// <summary>Resolves a requested thread count: 0 or less means all of <see cref="MaxThreads"/>.</summary>
    public int Workers(int requested) => requested <= 0 ? MaxThreads : Math.Min(requested, MaxThreads);

    /// <summary>Runs <paramref name="job"/> on <paramref name="threads"/> workers and returns when all have finished.</summary>
    /// <exception cref="Exception">The first exception a worker threw is rethrown here.</exception>
    public void Run(IParallelJob job, int threads)
    {
        ArgumentNullException.ThrowIfNull(job);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int workers = Workers(threads);
        if (workers == 1 || t_insideJob)
        {
            for (int w = 0; w < workers; w++) job.Execute(w, workers);
            return;
        }
        lock (_gate)
        {
            _job = job;
            _workers = workers;
            _failure = null;
            Volatile.Write(ref _pending, workers - 1);
            for (int w = 1; w < workers; w++)
            {
                EnsureThread(w);
                _wake[w].Release();
            }
            t_insideJob = true;
            try
            {
                job.Execute(0, workers);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }
            finally
            {
                t_insideJob = false;
            }
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _job = null;
            _failure?.Throw();
        }
    }

    private void EnsureThread(int index)
    {
        if (_threads[index] is not null) return;
        var thread = new Thread(WorkerLoop) { IsBackground = true, Name = $"Quant worker {index}" };
        _threads[index] = thread;
        thread.Start(index);
    }

    private void WorkerLoop(object? state)
    {
        int index = (int)state!;
        t_insideJob = true;
        while (true)
        {
            _wake[index].Wait();
            if (_disposed) return;
            try
            {
                _job!.Execute(index, _workers);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, ExceptionDispatchInfo.Capture(e), null);
            }
            finally
            {
                Interlocked.Decrement(ref _pending);
            }
        }
    }

    /// <summary>Stops the pool's threads.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = 1; i < _wake.Length; i++)
        {
            if (_threads[i] is not null) _wake[i].Release();
        }
    }
}
