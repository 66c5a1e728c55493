using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// The mixture-of-experts gather <c>y[t, s] = x[t or (t, s)] W_e^T + b_e</c>, <c>e = idx[t, s]</c>, of every
/// registered format against float64: tokens 1, 3, 8; slots 1 to 4; x shared by a token's slots or one row
/// per token-slot; repeated and unused experts; with and without bias; one and two threads.
/// </summary>
public sealed class GatherTests(ITestOutputHelper output)
{
    private const int Experts = 5;

    public static TheoryData<string> FormatNames() => TestFormats.Names();

    /// <summary>How the expert ids of a call are drawn.</summary>
    private enum Routing { Uniform, SubsetLeavesExpertsUnused, OneExpertForAll, Distinct }

    [Theory, MemberData(nameof(FormatNames))]
    public void Gather_MatchesFloat64Reference(string format)
    {
        var entry = TestFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int bs = entry.Info.BlockSize;
        var failures = new FailureLog();
        int calls = 0;
        ulong seed = 1200;
        foreach (var (n, blocks) in new[] { (3, 1), (17, 3), (5, 8) })
        {
            int k = blocks * bs;
            var rng = new SplitMix64(seed++);
            var parts = new List<QuantMatrix>();
            var w = new float[Experts * n * k];
            for (int e = 0; e < Experts; e++)
            {
                var data = TestData.Matrix(rng, n, k, e % 2 == 0 ? Dist.Gaussian : Dist.Mixed);
                var part = TestFormats.Quantize(entry, data, n, k, e % entry.Info.Rules.Count);
                parts.Add(part);
                TestFormats.Dequantize(entry, part, SimdLevel.Scalar).CopyTo(w, e * n * k);
            }
            var experts = TestFormats.Stack(entry.Info, parts);
            var bias = TestData.Matrix(rng, Experts, n, Dist.Gaussian);

            foreach (int tokens in new[] { 1, 3, 8 })
            {
                for (int slots = 1; slots <= 4; slots++)
                {
                    foreach (var routing in Enum.GetValues<Routing>())
                    {
                        if (routing == Routing.Distinct && slots > Experts) continue;
                        var indices = Route(rng, tokens, slots, routing);
                        foreach (bool xPerSlot in new[] { false, true })
                        {
                            int xRows = xPerSlot ? tokens * slots : tokens;
                            var x = TestData.Matrix(rng, xRows, k, Dist.Gaussian);
                            foreach (int threads in new[] { 1, 2 })
                            {
                                foreach (bool withBias in new[] { false, true })
                                {
                                    // A random supported level per call: every level is covered and the sweep stays short.
                                    var level = TestFormats.Levels[rng.NextInt(TestFormats.Levels.Length)];
                                    var y = new float[tokens * slots * n];
                                    y.AsSpan().Fill(float.NaN);
                                    kernels.Gather(experts, Experts, x, indices, y, withBias ? bias : default, threads, level);
                                    calls++;
                                    string context = $"seed {seed - 1}, {format}, N = {n}, K = {k}, T = {tokens}, S = {slots}, {routing} [{string.Join(",", indices)}], x {(xPerSlot ? "per token-slot" : "per token")}, {threads} threads, {(withBias ? "bias" : "no bias")}, {level}";
                                    failures.Run(() => CheckOutputs(w, bias, x, indices, y, n, k, slots, xPerSlot, withBias, context));
                                }
                            }
                        }
                    }
                }
            }
        }
        output.WriteLine($"{format}: {calls} gather calls checked");
        failures.ThrowIfAny();
    }

    [Theory, MemberData(nameof(FormatNames))]
    public void Gather_ExpertIdOutOfRange_ThrowsArgumentOutOfRange(string format)
    {
        var entry = TestFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int n = 3, k = entry.Info.BlockSize;
        var experts = TestFormats.Quantize(entry, TestData.Matrix(new SplitMix64(1300), Experts * n, k, Dist.Gaussian), Experts * n, k);
        var x = new float[2 * k];
        foreach (int bad in new[] { Experts, -1, int.MaxValue, int.MinValue })
        {
            foreach (int threads in new[] { 1, 2 })
            {
                var y = new float[2 * 2 * n];
                var e = Record.Exception(() => kernels.Gather(experts, Experts, x, [0, 1, bad, 2], y, threads: threads));
                Assert.True(e is ArgumentOutOfRangeException, $"{format}: expert id {bad}: expected ArgumentOutOfRangeException, got {(e is null ? "no exception" : e.GetType().Name)}");
            }
        }
    }

    [Theory, MemberData(nameof(FormatNames))]
    public void Gather_WrongLengths_ThrowArgumentException(string format)
    {
        var entry = TestFormats.Get(format);
        var kernels = FormatKernels.For(entry);
        int n = 3, k = entry.Info.BlockSize;
        var experts = TestFormats.Quantize(entry, TestData.Matrix(new SplitMix64(1301), Experts * n, k, Dist.Gaussian), Experts * n, k);
        int[] indices = [0, 1, 4, 2]; // T = 2, S = 2
        var x = new float[2 * k];
        var y = new float[4 * n];
        Expect(() => kernels.Gather(experts, Experts, x, indices, new float[4 * n - 1]), "y one short");
        Expect(() => kernels.Gather(experts, Experts, x, indices, new float[5 * n]), "y one row long");
        Expect(() => kernels.Gather(experts, Experts, new float[2 * k + 1], indices, y), "x not whole rows");
        Expect(() => kernels.Gather(experts, Experts, new float[3 * k], indices, y), "x of 3 rows for 4 token-slots");
        Expect(() => kernels.Gather(experts, Experts, x, indices, y, new float[Experts * n - 1]), "bias one short");
        Expect(() => kernels.Gather(experts, Experts, x, indices, y, new float[n]), "bias for one expert");
        Expect(() => kernels.Gather(experts, 4, x, indices, y), "15 rows do not split into 4 experts");
        Expect(() => kernels.Gather(experts, 0, x, indices, y), "zero experts");

        void Expect(Action call, string what)
        {
            var e = Record.Exception(call);
            Assert.True(e is ArgumentException, $"{format}, {what}: expected an ArgumentException, got {(e is null ? "no exception" : e.GetType().Name + ": " + e.Message)}");
        }
    }

    private static int[] Route(SplitMix64 rng, int tokens, int slots, Routing routing)
    {
        var indices = new int[tokens * slots];
        int[] subset = [1, 3];
        int single = rng.NextInt(Experts);
        for (int t = 0; t < tokens; t++)
        {
            int offset = rng.NextInt(Experts);
            for (int s = 0; s < slots; s++)
            {
                indices[t * slots + s] = routing switch
                {
                    Routing.Uniform => rng.NextInt(Experts),
                    Routing.SubsetLeavesExpertsUnused => subset[rng.NextInt(subset.Length)],
                    Routing.OneExpertForAll => single,
                    _ => (offset + s) % Experts, // distinct experts within a token, as top-k routing gives
                };
            }
        }
        return indices;
    }

    private static void CheckOutputs(float[] w, float[] bias, float[] x, int[] indices, float[] y, int n, int k, int slots, bool xPerSlot, bool withBias, string context)
    {
        for (int i = 0; i < indices.Length; i++)
        {
            int e = indices[i];
            int xRow = xPerSlot ? i : i / slots;
            for (int r = 0; r < n; r++)
            {
                var (dot, abs) = Float64.Dot(w.AsSpan((e * n + r) * k, k), x.AsSpan(xRow * k, k));
                double b = withBias ? bias[e * n + r] : 0;
                Check.Close(dot + b, y[i * n + r], abs, Math.Abs(b) * MatMulTests.BiasSlack + Check.UnderflowSlack(k), $"{context}: y[t {i / slots}, s {i % slots}, {r}] (expert {e})");
            }
        }
    }
}
