using System;
using System.Threading;
using Quant.Kernels;

namespace Quant.Cli.Demo;

/// <summary>
/// The float32 baseline of the demo: <c>y[n] = DenseMath.Dot(W[n, :], x)</c>, rows claimed in chunks by
/// the same <see cref="QuantThreadPool"/> workers the quantized GEMV uses, so the two run on equal terms.
/// One instance is reused across timed runs, so a run allocates nothing.
/// </summary>
internal sealed class DenseGemv : IParallelJob
{
    private const int ChunkRows = 16;
    private readonly float[] _weights, _x, _y;
    private readonly int _rows, _columns;
    private int _next;

    /// <summary>Prepares <c>y = W x</c> for W <c>[rows, columns]</c> row-major.</summary>
    public DenseGemv(float[] weights, int rows, int columns, float[] x, float[] y)
    {
        _weights = weights;
        _rows = rows;
        _columns = columns;
        _x = x;
        _y = y;
    }

    /// <summary>Bytes of the float32 weight, read once per run.</summary>
    public long WeightBytes => 4L * _rows * _columns;

    /// <summary>Runs one GEMV on <paramref name="threads"/> workers (0: all).</summary>
    public void Run(int threads)
    {
        _next = 0;
        QuantThreadPool.Shared.Run(this, threads);
    }

    /// <inheritdoc/>
    public void Execute(int worker, int workers)
    {
        var x = new ReadOnlySpan<float>(_x);
        for (int start = Interlocked.Add(ref _next, ChunkRows) - ChunkRows; start < _rows; start = Interlocked.Add(ref _next, ChunkRows) - ChunkRows)
        {
            int end = Math.Min(start + ChunkRows, _rows);
            for (int r = start; r < end; r++)
            {
                _y[r] = DenseMath.Dot(new ReadOnlySpan<float>(_weights, r * _columns, _columns), x);
            }
        }
    }
}
