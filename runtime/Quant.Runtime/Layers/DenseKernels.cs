using System;
using System.Threading;
using Quant.Kernels;

namespace Quant.Runtime.Layers;

/// <summary>
/// Float32 products for dense layers: <c>y = x W^T + b</c> and the experts' gather, over the kernels' thread
/// pool (output rows split between workers). F16 and BF16 weights go through the generated <c>f16</c> and
/// <c>bf16</c> formats instead.
/// </summary>
internal static unsafe class DenseKernels
{
    /// <summary><c>y [B, N] = x [B, K] W [N, K]^T + bias</c>.</summary>
    public static void MatMul(ReadOnlySpan<float> weight, int n, int k, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias, int threads)
    {
        int batch = x.Length / k;
        fixed (float* pw = weight, px = x, py = y, pb = bias)
        {
            var job = new Job(pw, n, k, px, py, bias.IsEmpty ? null : pb, batch, null, 0, 1);
            QuantThreadPool.Shared.Run(job, RowsWorthThreads(n, threads));
        }
    }

    /// <summary>The gather over dense experts <c>W [E, N, K]</c>: <c>y[t, s] = x[t, (s)] W[ids[t, s]]^T + bias[ids[t, s]]</c>.</summary>
    public static void Gather(ReadOnlySpan<float> weight, int experts, int n, int k, ReadOnlySpan<float> x, int xSlots, ReadOnlySpan<int> ids, Span<float> y, ReadOnlySpan<float> bias, int threads)
    {
        int slots = ids.Length == 0 ? 0 : y.Length / n / (x.Length / k / xSlots);
        foreach (int id in ids)
            if ((uint)id >= (uint)experts) throw new ArgumentOutOfRangeException(nameof(ids), id, $"Expert id {id} is not in [0, {experts}).");
        fixed (float* pw = weight, px = x, py = y, pb = bias)
        fixed (int* pi = ids)
        {
            var job = new Job(pw, n, k, px, py, bias.IsEmpty ? null : pb, ids.Length, pi, xSlots, slots);
            QuantThreadPool.Shared.Run(job, RowsWorthThreads(ids.Length * n, threads));
        }
    }

    private static int RowsWorthThreads(long rows, int threads) => rows < 64 ? 1 : threads;

    private sealed class Job(float* weight, int n, int k, float* x, float* y, float* bias, int count, int* ids, int xSlots, int slots) : IParallelJob
    {
        private int _next;

        public void Execute(int worker, int workers)
        {
            const int Chunk = 16;
            while (true)
            {
                int start = Interlocked.Add(ref _next, Chunk) - Chunk;
                if (start >= n) return;
                int end = Math.Min(start + Chunk, n);
                for (int r = start; r < end; r++)
                {
                    for (int i = 0; i < count; i++)
                    {
                        int expert = ids is null ? 0 : ids[i];
                        var row = new ReadOnlySpan<float>(weight + ((long)expert * n + r) * k, k);
                        long xRow = ids is null ? i : (long)(i / slots) * xSlots + (xSlots == 1 ? 0 : i % slots);
                        float value = DenseMath.Dot(row, new ReadOnlySpan<float>(x + xRow * k, k));
                        if (bias is not null) value += bias[(long)expert * n + r];
                        y[(long)i * n + r] = value;
                    }
                }
            }
        }
    }
}
