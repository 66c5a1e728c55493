using System;
using System.Collections.Generic;
using System.Threading;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Xunit;

namespace Quant.Formats.Tests;

/// <summary>Runs alone: the allocation counter is process-wide, so no other test may run beside these.</summary>
[CollectionDefinition(nameof(AllocationCollection), DisableParallelization = true)]
public sealed class AllocationCollection;

/// <summary>
/// The hot paths allocate nothing per call, for every format: GEMV, GEMM, the MoE gather and the three dequantizes,
/// on one thread and on the shared pool's workers (<see cref="GC.GetTotalAllocatedBytes"/> counts every thread).
/// A call that allocated even one object would show in each of the five measured rounds; the least of the five
/// keeps a stray allocation of the runtime itself (a timer, the test runner's reporting) from failing the test.
/// </summary>
[Collection(nameof(AllocationCollection))]
public sealed class AllocationTests
{
    private const int Experts = 3, Rows = 8, Calls = 20, Rounds = 5;

    public static TheoryData<string> FormatNames() => TestFormats.Names();

    [Theory, MemberData(nameof(FormatNames))]
    public void HotPaths_AllocateNothingPerCall(string format)
    {
        var entry = TestFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int k = 2 * entry.Info.BlockSize;
        var rng = new SplitMix64(0xA110C ^ (ulong)format.GetHashCode(StringComparison.Ordinal));
        var weights = TestFormats.Quantize(entry, TestData.Matrix(rng, Experts * Rows, k, Dist.Gaussian), Experts * Rows, k);
        var x = TestData.Matrix(rng, 3, k, Dist.Gaussian);
        var bias = TestData.Matrix(rng, 1, Experts * Rows, Dist.Gaussian);
        var y = new float[3 * Experts * Rows];
        int[] indices = [2, 0, 1, 1, 2, 0];
        var gathered = new float[indices.Length * Rows];
        var f32 = new float[Experts * Rows * k];
        var f16 = new Half[f32.Length];
        var bf16 = new BFloat16[f32.Length];

        var paths = new List<(string Name, Action Call)>();
        foreach (int threads in new[] { 1, 2 })
        {
            string on = threads == 1 ? "on 1 thread" : "on 2 threads";
            paths.Add(($"GEMV {on}", () => kernels.MatMul(weights, x.AsSpan(0, k), y.AsSpan(0, Experts * Rows), bias, threads)));
            paths.Add(($"GEMM batch 3 {on}", () => kernels.MatMul(weights, x, y, bias, threads)));
            paths.Add(($"gather {on}", () => kernels.Gather(weights, Experts, x.AsSpan(0, 3 * k), indices, gathered, bias, threads)));
            paths.Add(($"dequantize float32 {on}", () => kernels.Dequantize(weights, f32, threads)));
            paths.Add(($"dequantize Half {on}", () => kernels.Dequantize(weights, f16, threads)));
            paths.Add(($"dequantize BFloat16 {on}", () => kernels.Dequantize(weights, bf16, threads)));
        }

        // Warm-up past tiered compilation (tier 0 with call counting, then tier-1 code installed after a delay), the
        // pool's threads and the rented jobs: what the JIT does may allocate, what follows must not.
        foreach (var (_, call) in paths) for (int i = 0; i < 4 * Calls; i++) call();
        Thread.Sleep(150);
        foreach (var (_, call) in paths) for (int i = 0; i < 4 * Calls; i++) call();

        foreach (var (name, call) in paths)
        {
            long least = long.MaxValue;
            for (int round = 0; round < Rounds; round++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < Calls; i++) call();
                least = Math.Min(least, GC.GetTotalAllocatedBytes(precise: true) - before);
            }
            Assert.True(least == 0, $"{format} {name}: {least} bytes allocated over {Calls} calls (least of {Rounds} rounds)");
        }
    }
}
