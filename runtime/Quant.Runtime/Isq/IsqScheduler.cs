using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading;
using System.Threading.Tasks;
using Quant.Runtime.Layers;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Isq;

/// <summary>What an <see cref="IsqScheduler"/> reports after each layer.</summary>
/// <param name="Layer">The layer's name.</param>
/// <param name="Format">The format it was quantized to.</param>
/// <param name="Completed">Layers finished so far (this one included).</param>
/// <param name="Submitted">Layers submitted so far.</param>
/// <param name="InputBytes">Bytes of the dense weight that went in.</param>
/// <param name="OutputBytes">Bytes of the quantized weight.</param>
/// <param name="Elapsed">Time spent quantizing this layer.</param>
public sealed record IsqProgress(string Layer, string Format, int Completed, int Submitted, long InputBytes, long OutputBytes, TimeSpan Elapsed);

/// <summary>
/// Immediate ISQ's worker pool: a loader submits each dense layer as it reads it and gets back a
/// <see cref="PendingLayer"/> at once; <see cref="Workers"/> threads quantize them. Back-pressure keeps at most
/// <see cref="MaxPending"/> = workers + 1 layers submitted and unfinished (the loader blocks in <see cref="Submit"/>
/// otherwise), so memory holds a few dense layers, never the model.
/// </summary>
public sealed class IsqScheduler : IDisposable
{
    private readonly BlockingCollection<Job> _queue = new();
    private readonly Thread[] _threads;
    private readonly SemaphoreSlim _slots;
    private int _pending;
    private int _peakPending;
    private int _submitted;
    private int _completed;
    private long _inputBytes;
    private long _outputBytes;

    /// <summary>Starts <paramref name="workers"/> threads; each quantizes one layer at a time on <paramref name="threadsPerLayer"/> threads.</summary>
    public IsqScheduler(int workers, int threadsPerLayer = 1)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "ISQ needs at least one worker.");
        if (threadsPerLayer < 1) throw new ArgumentOutOfRangeException(nameof(threadsPerLayer), threadsPerLayer, "A layer needs at least one thread.");
        Workers = workers;
        ThreadsPerLayer = threadsPerLayer;
        _slots = new SemaphoreSlim(workers + 1, workers + 1);
        _threads = new Thread[workers];
        for (int i = 0; i < workers; i++)
        {
            _threads[i] = new Thread(Work) { IsBackground = true, Name = $"Quant ISQ worker {i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Worker threads.</summary>
    public int Workers { get; }

    /// <summary>Threads each layer's quantization uses.</summary>
    public int ThreadsPerLayer { get; }

    /// <summary>The most layers submitted and not finished at once: <see cref="Workers"/> + 1.</summary>
    public int MaxPending => Workers + 1;

    /// <summary>Layers submitted and not finished now.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>The largest <see cref="Pending"/> seen so far (what the back-pressure guarantees is at most <see cref="MaxPending"/>).</summary>
    public int PeakPending => Volatile.Read(ref _peakPending);

    /// <summary>Layers finished.</summary>
    public int Completed => Volatile.Read(ref _completed);

    /// <summary>Dense bytes quantized so far.</summary>
    public long InputBytes => Interlocked.Read(ref _inputBytes);

    /// <summary>Quantized bytes produced so far.</summary>
    public long OutputBytes => Interlocked.Read(ref _outputBytes);

    /// <summary>Raised on a worker thread after each layer (handlers must be quick and thread-safe).</summary>
    public event Action<IsqProgress>? Progress;

    /// <summary>
    /// Queues <paramref name="layer"/> for quantization to <paramref name="request"/>, blocking while
    /// <see cref="MaxPending"/> layers are pending, and returns the layer that resolves to the result.
    /// </summary>
    /// <param name="name">The layer's name (for progress and errors).</param>
    /// <param name="layer">The dense layer.</param>
    /// <param name="request">The format, rule and importance; its thread count is replaced by <see cref="ThreadsPerLayer"/>.</param>
    /// <param name="cancellation">Cancels the wait for a free slot.</param>
    public PendingLayer Submit(string name, IQuantMethod layer, IsqRequest request, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_queue.IsAddingCompleted, this);
        _slots.Wait(cancellation);
        int pending = Interlocked.Increment(ref _pending);
        int peak;
        while (pending > (peak = Volatile.Read(ref _peakPending)) && Interlocked.CompareExchange(ref _peakPending, pending, peak) != peak) { }
        int submitted = Interlocked.Increment(ref _submitted);
        var job = new Job(name, layer, request with { Threads = ThreadsPerLayer }, new TaskCompletionSource<IQuantMethod>(TaskCreationOptions.RunContinuationsAsynchronously), submitted);
        _queue.Add(job, cancellation);
        return new PendingLayer(name, layer, request.Format, job.Result.Task);
    }

    /// <summary>Waits until every submitted layer is finished.</summary>
    public void WaitAll()
    {
        var spin = new SpinWait();
        while (Pending > 0) spin.SpinOnce(sleep1Threshold: 1);
    }

    /// <summary>Stops the workers once the queue is empty.</summary>
    public void Dispose()
    {
        if (_queue.IsAddingCompleted) return;
        _queue.CompleteAdding();
        foreach (var t in _threads) t.Join();
        _queue.Dispose();
        _slots.Dispose();
    }

    private void Work()
    {
        foreach (var job in _queue.GetConsumingEnumerable())
        {
            var clock = Stopwatch.StartNew();
            try
            {
                var result = job.Layer.ApplyIsq(job.Request);
                long input = (long)job.Layer.Experts * job.Layer.OutFeatures * job.Layer.InFeatures * job.Layer.DType.Size();
                long output = result is QuantLinear q ? q.Weight.Bytes : input;
                Interlocked.Add(ref _inputBytes, input);
                Interlocked.Add(ref _outputBytes, output);
                int completed = Interlocked.Increment(ref _completed);
                Interlocked.Decrement(ref _pending);
                _slots.Release();
                job.Result.SetResult(result);
                Progress?.Invoke(new IsqProgress(job.Name, job.Request.Format, completed, Volatile.Read(ref _submitted), input, output, clock.Elapsed));
            }
            catch (Exception e)
            {
                Interlocked.Decrement(ref _pending);
                _slots.Release();
                job.Result.SetException(new InvalidOperationException($"ISQ of layer '{job.Name}' to {job.Request.Format} failed: {e.Message}", e));
            }
        }
    }

    private sealed record Job(string Name, IQuantMethod Layer, IsqRequest Request, TaskCompletionSource<IQuantMethod> Result, int Index);
}
