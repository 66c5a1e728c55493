using System;
using System.Globalization;
using System.Threading;

namespace Quant.Kernels;

/// <summary>
/// The generic drivers: quantized GEMV / GEMM <c>y = x W^T + b</c>, the mixture-of-experts gather
/// <c>y[t, s] = x[t] W[idx[t, s]]^T + b[idx[t, s]]</c>, and quantize / dequantize of whole matrices,
/// multithreaded over output rows on a <see cref="QuantThreadPool"/>. Each is generic over the format's
/// <c>Format</c> struct, so every format gets its own specialised copy; no call allocates once warm.
/// </summary>
public static class QuantMatMul
{
    /// <summary>
    /// <c>y[b, n] = sum_k x[b, k] W[n, k] + bias[n]</c> for a batch of activation rows. One row uses the fused
    /// row kernel (GEMV); larger batches dequantize each weight row once and reuse it for every activation row.
    /// </summary>
    /// <param name="weight">W, <c>[N, K]</c>, in format <typeparamref name="TFormat"/>.</param>
    /// <param name="x">Activations, <c>[batch, K]</c> row-major.</param>
    /// <param name="y">Outputs, <c>[batch, N]</c> row-major.</param>
    /// <param name="bias">Bias, <c>N</c> floats, or empty.</param>
    /// <param name="threads">Worker threads; 0 for every thread of the pool.</param>
    /// <param name="level">The SIMD level; null for <see cref="QuantSimd.Best"/>.</param>
    /// <param name="pool">The pool; null for <see cref="QuantThreadPool.Shared"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public static unsafe void MatMul<TFormat>(QuantMatrix weight, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default,
        int threads = 0, SimdLevel? level = null, QuantThreadPool? pool = null)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        ArgumentNullException.ThrowIfNull(weight);
        CheckFormat<TFormat>(weight);
        int k = weight.Columns, n = weight.Rows;
        if (x.Length % k != 0) throw new ArgumentException(Text($"x holds {x.Length} floats, not a whole number of rows of {k}."), nameof(x));
        int batch = x.Length / k;
        if (y.Length != (long)batch * n) throw new ArgumentException(Text($"y must hold {batch} x {n} floats; it holds {y.Length}."), nameof(y));
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException(Text($"The bias must hold {n} floats; it holds {bias.Length}."), nameof(bias));
        if (batch == 0 || n == 0) return;

        pool ??= QuantThreadPool.Shared;
        var job = MatMulJob<TFormat>.Rent();
        fixed (float* px = x, py = y, pb = bias)
        {
            job.Set(weight, px, py, bias.IsEmpty ? null : pb, batch, level ?? QuantSimd.Best, pool.Workers(threads));
            pool.Run(job, threads);
        }
        job.Clear();
    }

    /// <summary>
    /// The mixture-of-experts gather: <c>y[t, s, :] = x[t, s or 0, :] W_e^T + bias[e]</c> with
    /// <c>e = indices[t, s]</c>. Token-slots are grouped by expert, so each expert's weight rows are read
    /// once for all the tokens routed to it.
    /// </summary>
    /// <param name="experts">The stacked experts, <c>[E * N, K]</c> (expert e owns rows e*N to e*N + N - 1).</param>
    /// <param name="expertCount">E.</param>
    /// <param name="x">Activations, <c>[T, xSlots, K]</c>: one row per token (<c>xSlots</c> = 1, shared by its slots) or one per token-slot.</param>
    /// <param name="indices">Expert ids, <c>[T, S]</c>.</param>
    /// <param name="y">Outputs, <c>[T, S, N]</c>.</param>
    /// <param name="bias">Biases, <c>[E, N]</c>, or empty.</param>
    /// <param name="threads">Worker threads; 0 for every thread of the pool.</param>
    /// <param name="level">The SIMD level; null for <see cref="QuantSimd.Best"/>.</param>
    /// <param name="pool">The pool; null for <see cref="QuantThreadPool.Shared"/>.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An expert id is not in [0, E).</exception>
    public static unsafe void Gather<TFormat>(QuantMatrix experts, int expertCount, ReadOnlySpan<float> x, ReadOnlySpan<int> indices,
        Span<float> y, ReadOnlySpan<float> bias = default, int threads = 0, SimdLevel? level = null, QuantThreadPool? pool = null)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        ArgumentNullException.ThrowIfNull(experts);
        CheckFormat<TFormat>(experts);
        if (expertCount <= 0 || experts.Rows % expertCount != 0)
        {
            throw new ArgumentException(Text($"{experts.Rows} rows do not split into {expertCount} experts."), nameof(expertCount));
        }
        int k = experts.Columns, n = experts.Rows / expertCount;
        if (y.Length % n != 0 || y.Length / n != indices.Length)
        {
            throw new ArgumentException(Text($"y must hold one row of {n} floats per index ({indices.Length}); it holds {y.Length}."), nameof(y));
        }
        if (x.Length % k != 0) throw new ArgumentException(Text($"x holds {x.Length} floats, not a whole number of rows of {k}."), nameof(x));
        int xRows = x.Length / k;
        if (!bias.IsEmpty && bias.Length != (long)expertCount * n) throw new ArgumentException(Text($"The bias must hold {expertCount} x {n} floats."), nameof(bias));
        if (indices.IsEmpty) return;
        if (xRows == 0 || (indices.Length % xRows != 0 && xRows != indices.Length))
        {
            throw new ArgumentException(Text($"x has {xRows} rows, which is neither one per token nor one per index ({indices.Length})."), nameof(x));
        }
        for (int i = 0; i < indices.Length; i++)
        {
            if ((uint)indices[i] >= (uint)expertCount)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), Text($"indices[{i}] = {indices[i]} is not an expert id in [0, {expertCount})."));
            }
        }
        int slotsPerXRow = indices.Length / xRows;

        pool ??= QuantThreadPool.Shared;
        var job = GatherJob<TFormat>.Rent();
        fixed (float* px = x, py = y, pb = bias)
        fixed (int* pi = indices)
        {
            job.Set(experts, expertCount, n, px, slotsPerXRow, pi, indices.Length, py, bias.IsEmpty ? null : pb, level ?? QuantSimd.Best, pool.Workers(threads));
            pool.Run(job, threads);
        }
        job.Clear();
    }

    /// <summary>Quantizes a row-major <c>[rows, columns]</c> float matrix to format <typeparamref name="TFormat"/>, in parallel over rows.</summary>
    /// <param name="weights">The floats, <c>rows * columns</c>.</param>
    /// <param name="rows">Rows (N).</param>
    /// <param name="columns">Columns (K), a multiple of the block size.</param>
    /// <param name="rule">Index of the rule in <see cref="QuantFormatInfo.Rules"/>, or -1 for the default.</param>
    /// <param name="importance">Per-column importance (K floats), or empty.</param>
    /// <param name="threads">Worker threads; 0 for all.</param>
    /// <param name="pool">The pool; null for the shared one.</param>
    public static unsafe QuantMatrix Quantize<TFormat>(ReadOnlySpan<float> weights, int rows, int columns, int rule = -1,
        ReadOnlySpan<float> importance = default, int threads = 0, QuantThreadPool? pool = null)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        var info = TFormat.Info;
        info.CheckColumns(columns);
        if (weights.Length != (long)rows * columns) throw new ArgumentException(Text($"{rows} x {columns} weights are {(long)rows * columns} floats; got {weights.Length}."), nameof(weights));
        if (!importance.IsEmpty && importance.Length != columns) throw new ArgumentException(Text($"The importance row must hold {columns} floats."), nameof(importance));
        var matrix = new QuantMatrix(info, rows, columns);
        TFormat.QuantizeTensorPlanes(weights, matrix);
        pool ??= QuantThreadPool.Shared;
        var job = new RowJob<TFormat>();
        fixed (float* pw = weights, pi = importance)
        {
            job.SetQuantize(matrix, pw, importance.IsEmpty ? null : pi, rule);
            pool.Run(job, threads);
        }
        return matrix;
    }

    /// <summary>Dequantizes a whole matrix into <paramref name="destination"/> (<c>[rows, columns]</c> floats), in parallel over rows.</summary>
    public static unsafe void Dequantize<TFormat>(QuantMatrix matrix, Span<float> destination, int threads = 0, SimdLevel? level = null, QuantThreadPool? pool = null)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        ArgumentNullException.ThrowIfNull(matrix);
        CheckFormat<TFormat>(matrix);
        if (destination.Length != (long)matrix.Rows * matrix.Columns) throw new ArgumentException(Text($"The destination must hold {(long)matrix.Rows * matrix.Columns} floats."), nameof(destination));
        pool ??= QuantThreadPool.Shared;
        var job = RowJob<TFormat>.RentForDequantize();
        fixed (float* pd = destination)
        {
            job.SetDequantize(matrix, pd, RowJob<TFormat>.Output.Single, level ?? QuantSimd.Best);
            pool.Run(job, threads);
        }
        job.Clear();
    }

    /// <summary>Dequantizes a whole matrix to binary16 (<c>[rows, columns]</c>), in parallel over rows, rounding to nearest even.</summary>
    public static unsafe void Dequantize<TFormat>(QuantMatrix matrix, Span<Half> destination, int threads = 0, SimdLevel? level = null, QuantThreadPool? pool = null)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        ArgumentNullException.ThrowIfNull(matrix);
        CheckFormat<TFormat>(matrix);
        if (destination.Length != (long)matrix.Rows * matrix.Columns) throw new ArgumentException(Text($"The destination must hold {(long)matrix.Rows * matrix.Columns} values."), nameof(destination));
        pool ??= QuantThreadPool.Shared;
        var job = RowJob<TFormat>.RentForDequantize();
        fixed (Half* pd = destination)
        {
            job.SetDequantize(matrix, pd, RowJob<TFormat>.Output.Half, level ?? QuantSimd.Best);
            pool.Run(job, threads);
        }
        job.Clear();
    }

    /// <summary>Dequantizes a whole matrix to bfloat16 (<c>[rows, columns]</c>), in parallel over rows, rounding to nearest even.</summary>
    public static unsafe void Dequantize<TFormat>(QuantMatrix matrix, Span<BFloat16> destination, int threads = 0, SimdLevel? level = null, QuantThreadPool? pool = null)
        where TFormat : struct, IQuantFormat<TFormat>
    {
        ArgumentNullException.ThrowIfNull(matrix);
        CheckFormat<TFormat>(matrix);
        if (destination.Length != (long)matrix.Rows * matrix.Columns) throw new ArgumentException(Text($"The destination must hold {(long)matrix.Rows * matrix.Columns} values."), nameof(destination));
        pool ??= QuantThreadPool.Shared;
        var job = RowJob<TFormat>.RentForDequantize();
        fixed (BFloat16* pd = destination)
        {
            job.SetDequantize(matrix, pd, RowJob<TFormat>.Output.BFloat16, level ?? QuantSimd.Best);
            pool.Run(job, threads);
        }
        job.Clear();
    }

    private static void CheckFormat<TFormat>(QuantMatrix matrix) where TFormat : struct, IQuantFormat<TFormat>
    {
        if (!ReferenceEquals(matrix.Format, TFormat.Info))
        {
            throw new ArgumentException($"The matrix is in format '{matrix.Format.Name}', not '{TFormat.Info.Name}'.", nameof(matrix));
        }
    }

    internal static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <summary>Rows per claim: small enough to balance, large enough that the shared counter stays cold.</summary>
    internal static int ChunkRows(int rows, int workers) => Math.Clamp(rows / (workers * 16), 4, 64);
}

/// <summary>One GEMV / GEMM call's state; reused (one instance per calling thread and format), so calls do not allocate.</summary>
internal sealed unsafe class MatMulJob<TFormat> : IParallelJob where TFormat : struct, IQuantFormat<TFormat>
{
    [ThreadStatic]
    private static MatMulJob<TFormat>? t_instance;

    private QuantMatrix? _weight;
    private float* _x, _y, _bias;
    private int _batch, _chunk, _next;
    private SimdLevel _level;
    private float[][] _scratch = [];

    public static MatMulJob<TFormat> Rent() => t_instance ??= new MatMulJob<TFormat>();

    public void Set(QuantMatrix weight, float* x, float* y, float* bias, int batch, SimdLevel level, int workers)
    {
        _weight = weight;
        _x = x;
        _y = y;
        _bias = bias;
        _batch = batch;
        _level = level;
        _chunk = QuantMatMul.ChunkRows(weight.Rows, workers);
        _next = 0;
        if (batch > 1 && (_scratch.Length < workers || _scratch[0].Length < weight.Columns))
        {
            _scratch = new float[workers][];
            for (int i = 0; i < workers; i++) _scratch[i] = new float[weight.Columns];
        }
    }

    public void Clear() => _weight = null;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Execute(int worker, int workers)
    {
        var weight = _weight!;
        int n = weight.Rows, k = weight.Columns;
        var x = new ReadOnlySpan<float>(_x, _batch * k);
        Span<float> row = _batch > 1 ? _scratch[worker].AsSpan(0, k) : default;
        for (int start = Interlocked.Add(ref _next, _chunk) - _chunk; start < n; start = Interlocked.Add(ref _next, _chunk) - _chunk)
        {
            int end = Math.Min(start + _chunk, n);
            for (int r = start; r < end; r++)
            {
                var quantRow = weight.Row(r);
                float bias = _bias is null ? 0f : _bias[r];
                if (_batch == 1)
                {
                    _y[r] = TFormat.DotRow(in quantRow, x, _level) + bias;
                    continue;
                }
                TFormat.DequantizeBlocks(in quantRow, 0, row, _level);
                for (int b = 0; b < _batch; b++)
                {
                    _y[(long)b * n + r] = DenseMath.Dot(row, x.Slice(b * k, k)) + bias;
                }
            }
        }
    }
}

/// <summary>One gather call's state: token-slots grouped by expert, then (expert, row chunk) work items.</summary>
internal sealed unsafe class GatherJob<TFormat> : IParallelJob where TFormat : struct, IQuantFormat<TFormat>
{
    [ThreadStatic]
    private static GatherJob<TFormat>? t_instance;

    private QuantMatrix? _experts;
    private float* _x, _y, _bias;
    private int* _indices;
    private int _n, _slotsPerXRow, _chunk, _chunksPerExpert, _items, _next;
    private SimdLevel _level;
    private int[] _start = [], _order = [], _active = [];
    private float[][] _scratch = [];

    public static GatherJob<TFormat> Rent() => t_instance ??= new GatherJob<TFormat>();

    public void Set(QuantMatrix experts, int expertCount, int n, float* x, int slotsPerXRow, int* indices, int count,
        float* y, float* bias, SimdLevel level, int workers)
    {
        _experts = experts;
        _n = n;
        _x = x;
        _slotsPerXRow = slotsPerXRow;
        _indices = indices;
        _y = y;
        _bias = bias;
        _level = level;
        if (_start.Length < expertCount + 1) _start = new int[expertCount + 1];
        if (_order.Length < count) _order = new int[count];
        if (_active.Length < expertCount) _active = new int[expertCount];
        if (_scratch.Length < workers || _scratch[0].Length < experts.Columns)
        {
            _scratch = new float[workers][];
            for (int i = 0; i < workers; i++) _scratch[i] = new float[experts.Columns];
        }

        // Counting sort of token-slots by expert: _order[_start[e] .. _start[e + 1]) are expert e's.
        Array.Clear(_start, 0, expertCount + 1);
        for (int i = 0; i < count; i++) _start[indices[i] + 1]++;
        for (int e = 0; e < expertCount; e++) _start[e + 1] += _start[e];
        Span<int> fill = expertCount <= 512 ? stackalloc int[expertCount] : new int[expertCount];
        _start.AsSpan(0, expertCount).CopyTo(fill);
        for (int i = 0; i < count; i++) _order[fill[indices[i]]++] = i;

        int active = 0;
        for (int e = 0; e < expertCount; e++)
        {
            if (_start[e + 1] > _start[e]) _active[active++] = e;
        }
        _chunk = QuantMatMul.ChunkRows(n * active, workers);
        _chunksPerExpert = (n + _chunk - 1) / _chunk;
        _items = active * _chunksPerExpert;
        _next = 0;
    }

    public void Clear() => _experts = null;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Execute(int worker, int workers)
    {
        var experts = _experts!;
        int k = experts.Columns;
        Span<float> row = _scratch[worker].AsSpan(0, k);
        for (int item = Interlocked.Increment(ref _next) - 1; item < _items; item = Interlocked.Increment(ref _next) - 1)
        {
            int expert = _active[item / _chunksPerExpert];
            int first = (item % _chunksPerExpert) * _chunk;
            int last = Math.Min(first + _chunk, _n);
            int from = _start[expert], to = _start[expert + 1];
            for (int r = first; r < last; r++)
            {
                var quantRow = experts.Row(expert * _n + r);
                float bias = _bias is null ? 0f : _bias[(long)expert * _n + r];
                if (to - from == 1)
                {
                    int slot = _order[from];
                    _y[(long)slot * _n + r] = TFormat.DotRow(in quantRow, new ReadOnlySpan<float>(_x + (long)(slot / _slotsPerXRow) * k, k), _level) + bias;
                    continue;
                }
                TFormat.DequantizeBlocks(in quantRow, 0, row, _level);
                for (int i = from; i < to; i++)
                {
                    int slot = _order[i];
                    _y[(long)slot * _n + r] = DenseMath.Dot(row, new ReadOnlySpan<float>(_x + (long)(slot / _slotsPerXRow) * k, k)) + bias;
                }
            }
        }
    }
}

/// <summary>Quantize or dequantize a whole matrix, in row chunks.</summary>
internal sealed unsafe class RowJob<TFormat> : IParallelJob where TFormat : struct, IQuantFormat<TFormat>
{
    public enum Output { Single, Half, BFloat16 }

    /// <summary>One dequantize job per calling thread and format, so a dequantize call allocates nothing. Quantize
    /// calls take a new job: they allocate their output anyway, and a rule may one day call back into the drivers.</summary>
    [ThreadStatic]
    private static RowJob<TFormat>? t_dequantize;

    public static RowJob<TFormat> RentForDequantize() => t_dequantize ??= new RowJob<TFormat>();

    /// <summary>Drops the references of the finished call (the matrix, the caller's buffers).</summary>
    public void Clear()
    {
        _matrix = null;
        _floats = _importance = null;
        _destination = null;
    }

    private QuantMatrix? _matrix;
    private float* _floats, _importance;
    private void* _destination;
    private Output _output;
    private int _rule, _chunk, _next;
    private bool _quantize;
    private SimdLevel _level;

    public void SetQuantize(QuantMatrix matrix, float* weights, float* importance, int rule)
    {
        _matrix = matrix;
        _floats = weights;
        _importance = importance;
        _rule = rule;
        _quantize = true;
        _chunk = 1;
    }

    public void SetDequantize(QuantMatrix matrix, void* destination, Output output, SimdLevel level)
    {
        _matrix = matrix;
        _destination = destination;
        _output = output;
        _level = level;
        _quantize = false;
        _chunk = 4;
        _next = 0;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void Execute(int worker, int workers)
    {
        var matrix = _matrix!;
        int k = matrix.Columns;
        var importance = _importance is null ? default : new ReadOnlySpan<float>(_importance, k);
        for (int start = Interlocked.Add(ref _next, _chunk) - _chunk; start < matrix.Rows; start = Interlocked.Add(ref _next, _chunk) - _chunk)
        {
            int end = Math.Min(start + _chunk, matrix.Rows);
            for (int r = start; r < end; r++)
            {
                long offset = (long)r * k;
                if (_quantize)
                {
                    var writer = matrix.RowWriter(r);
                    TFormat.QuantizeRow(new ReadOnlySpan<float>(_floats + offset, k), in writer, new QuantizeOptions(_rule, importance));
                    continue;
                }
                var row = matrix.Row(r);
                switch (_output)
                {
                    case Output.Half:
                        QuantRows.DequantizeBlocks<TFormat>(in row, 0, new Span<Half>((Half*)_destination + offset, k), _level);
                        break;
                    case Output.BFloat16:
                        QuantRows.DequantizeBlocks<TFormat>(in row, 0, new Span<BFloat16>((BFloat16*)_destination + offset, k), _level);
                        break;
                    default:
                        TFormat.DequantizeBlocks(in row, 0, new Span<float>((float*)_destination + offset, k), _level);
                        break;
                }
            }
        }
    }
}
