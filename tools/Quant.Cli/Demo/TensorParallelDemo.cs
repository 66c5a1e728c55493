using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Quant.Runtime.Distributed;
using Quant.Runtime.Isq;
using Quant.Runtime.Loading;
using Quant.Runtime.Models;
using Quant.Runtime.Tensors;

namespace Quant.Cli.Demo;

/// <summary>
/// <c>quant demo --tp N</c>: a synthetic GPT-OSS-style transformer block (grouped-query attention, a top-4 router,
/// MXFP4 experts) run sharded over N ranks and compared with the same block on one rank. In-process each rank is a
/// thread; under <c>mpirun -np N quant demo --tp N --comm mpi</c> each rank is a process and prints its own line.
/// </summary>
internal static class TensorParallelDemo
{
    /// <summary>The block: 8 query heads over 2 KV heads (so 4 and 8 ranks replicate KV heads), 8 experts of width 256.</summary>
    public static readonly MoeBlockConfig Config = new(Hidden: 256, Heads: 8, KvHeads: 2, HeadDim: 32, Experts: 8, TopK: 4, Intermediate: 256);

    private const int Tokens = 8;

    /// <summary>Runs the demo; returns false when a rank's output does not match the unsharded run.</summary>
    public static bool Run(TextWriter output, int worldSize, CommKind kind, string? isqFormat, ulong seed)
    {
        var tensors = MoeTransformerBlock.Synthesize(Config, seed);
        var options = isqFormat is null ? LoadOptions.Default : new LoadOptions { Isq = new IsqRules([new IsqRule(@"self_attn\.", isqFormat)]) };
        var vb = ShardedVarBuilder.FromTensors(tensors, options);
        var rng = new Random(unchecked((int)seed) ^ 0x5EED);
        var values = new float[Tokens * Config.Hidden];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        var x = HostTensor.FromArray(values, Tokens, Config.Hidden);

        // The reference: the same checkpoint on one rank, computed by every process for itself.
        var reference = Comm.Run(CommKind.InProcess, 1, comm => MoeTransformerBlock.Load(Config, comm, vb).Forward(x).ToFloat32Array())[0].Value;
        double rms = Math.Sqrt(reference.Average(v => (double)v * v));
        double tolerance = 1e-4 * rms;

        var clock = Stopwatch.StartNew();
        var results = Comm.Run(kind, worldSize, comm =>
        {
            var block = MoeTransformerBlock.Load(Config, comm, vb);
            var load = clock.Elapsed;
            var y = block.Forward(x).ToFloat32Array();
            double worst = 0;
            for (int i = 0; i < y.Length; i++) worst = Math.Max(worst, Math.Abs(y[i] - reference[i]));
            return new RankReport(comm.Rank, comm.WorldSize, block.QProj.OutFeatures / Config.HeadDim, block.KProj.OutFeatures / Config.HeadDim,
                block.Experts.Intermediate, block.QProj.Name, block.Experts.GateUp.Name, worst, load, clock.Elapsed - load);
        });

        if (kind == CommKind.InProcess || results.Length == 0 || results[0].Rank == 0)
        {
            output.WriteLine(Text($"block: hidden {Config.Hidden}, {Config.Heads} heads / {Config.KvHeads} KV heads of {Config.HeadDim}, {Config.Experts} experts (top {Config.TopK}) of width {Config.Intermediate} in mxfp4; {Tokens} tokens, seed {seed}"));
            output.WriteLine(Text($"attention projections: {(isqFormat is null ? "bf16 (dense)" : isqFormat + " (immediate ISQ from bf16)")}; comm: {Comm.Name(kind)}; reference: the same block on 1 rank, output RMS {rms:G4}"));
        }
        bool ok = true;
        foreach (var (_, r) in results)
        {
            bool match = r.MaxDifference <= tolerance;
            ok &= match;
            output.WriteLine(Text(
                $"rank {r.Rank}/{r.WorldSize}: {r.QueryHeads} q heads, {r.KvHeads} kv head(s), expert width {r.Intermediate} ({r.AttentionFormat}, experts {r.ExpertFormat}); max |y - y_1rank| = {r.MaxDifference:G3} (tolerance {tolerance:G3}): {(match ? "matches" : "DIFFERS")}; load {r.Load.TotalMilliseconds:F0} ms, forward {r.Forward.TotalMilliseconds:F0} ms"));
        }
        if (kind == CommKind.InProcess)
            output.WriteLine(ok ? Text($"the {worldSize}-rank output matches the unsharded run on every rank") : "the sharded output DIFFERS from the unsharded run");
        return ok;
    }

    private sealed record RankReport(int Rank, int WorldSize, int QueryHeads, int KvHeads, int Intermediate, string AttentionFormat, string ExpertFormat, double MaxDifference, TimeSpan Load, TimeSpan Forward);

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
