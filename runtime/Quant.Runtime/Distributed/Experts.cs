using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Distributed;

/// <summary>How a checkpoint stores the gate and up projections of its experts.</summary>
public enum GateUpLayout
{
    /// <summary>Two weights, <c>gate_proj</c> and <c>up_proj</c>.</summary>
    Separate,
    /// <summary>One <c>gate_up_proj</c>, gate in the first half of the outputs and up in the second (Llama 4).</summary>
    Concatenated,
    /// <summary>One <c>gate_up_proj</c>, gate in the even outputs and up in the odd ones (GPT-OSS).</summary>
    Interleaved,
}

/// <summary>The activation between the experts' gate/up and down projections.</summary>
public enum ExpertActivation
{
    /// <summary><c>silu(gate) * up</c> (Mixtral, Qwen3-MoE, Llama 4).</summary>
    SwiGlu,
    /// <summary>
    /// GPT-OSS: <c>gate = min(gate, limit)</c>, <c>up = clamp(up, -limit, limit)</c>, then
    /// <c>(up + 1) * gate * sigmoid(alpha * gate)</c> with alpha 1.702 and limit 7.
    /// </summary>
    GptOss,
}

/// <summary>
/// The experts of a mixture-of-experts block on one rank: gate and up projections (each rank holds its share of the
/// intermediate dimension), a down projection (its share of the input dimension, reduced across ranks), each a layer
/// of stacked experts used through <see cref="IQuantMethod.GatherForward"/>. <see cref="Forward"/> runs the block for
/// routed tokens. Built by <see cref="PackedExperts"/> and <see cref="FusedExperts"/>.
/// </summary>
public sealed class ExpertLayers
{
    /// <summary>Assembles the layers.</summary>
    /// <param name="gateUp">The gate and up projections: one layer (<see cref="GateUpLayout.Concatenated"/> or <see cref="GateUpLayout.Interleaved"/>) or the gate alone (<see cref="GateUpLayout.Separate"/>).</param>
    /// <param name="up">The up projection for <see cref="GateUpLayout.Separate"/>, else null.</param>
    /// <param name="down">The down projection, without its bias.</param>
    /// <param name="downBias">The down projection's bias <c>[E, H]</c>, added once after the reduction; null for none.</param>
    /// <param name="layout">How <paramref name="gateUp"/> holds gate and up.</param>
    /// <param name="comm">The group the down projection's partial sums are reduced over (null for one rank).</param>
    public ExpertLayers(IQuantMethod gateUp, IQuantMethod? up, IQuantMethod down, HostTensor? downBias, GateUpLayout layout, IComm? comm)
    {
        GateUp = gateUp ?? throw new ArgumentNullException(nameof(gateUp));
        Up = up;
        Down = down ?? throw new ArgumentNullException(nameof(down));
        DownBias = downBias?.ToDType(DType.F32);
        Layout = layout;
        Comm = comm;
        if ((layout == GateUpLayout.Separate) != (up is not null)) throw new ArgumentException("A separate up projection goes with GateUpLayout.Separate only.", nameof(up));
    }

    /// <summary>The gate/up layer (the gate alone for <see cref="GateUpLayout.Separate"/>).</summary>
    public IQuantMethod GateUp { get; }

    /// <summary>The up projection for <see cref="GateUpLayout.Separate"/>.</summary>
    public IQuantMethod? Up { get; }

    /// <summary>The down projection.</summary>
    public IQuantMethod Down { get; }

    /// <summary>The down bias, <c>[E, H]</c> F32.</summary>
    public HostTensor? DownBias { get; }

    /// <summary>How gate and up are stored.</summary>
    public GateUpLayout Layout { get; }

    /// <summary>The reduction group.</summary>
    public IComm? Comm { get; }

    /// <summary>Experts.</summary>
    public int Experts => Down.Experts;

    /// <summary>This rank's intermediate size.</summary>
    public int Intermediate => Down.InFeatures;

    /// <summary>Hidden size.</summary>
    public int Hidden => Down.OutFeatures;

    /// <summary>
    /// The experts' output for routed tokens: <c>out[t] = sum_s w[t, s] * down_e(act(gate_e(x[t]), up_e(x[t]))) + bias</c> with
    /// <c>e = ids[t, s]</c>, summed across ranks. <paramref name="x"/> <c>[T, H]</c>, <paramref name="ids"/> <c>[T, S]</c> (I32),
    /// <paramref name="weights"/> <c>[T, S]</c> (F32); returns <c>[T, H]</c> (F32), the same on every rank.
    /// </summary>
    public HostTensor Forward(HostTensor x, HostTensor ids, HostTensor weights, ExpertActivation activation)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(weights);
        int tokens = ids.Dim(0), slots = ids.Dim(1), inter = Intermediate, hidden = Hidden;
        if (weights.ElementCount != (long)tokens * slots) throw new ArgumentException($"Routing weights {weights} do not match ids {ids}.", nameof(weights));
        var routing = weights.ToFloat32Array();
        var act = new float[(long)tokens * slots * inter];
        if (Layout == GateUpLayout.Separate)
        {
            var gate = GateUp.GatherForward(x, ids).AsSpan<float>();
            var up = Up!.GatherForward(x, ids).AsSpan<float>();
            for (long i = 0; i < act.Length; i++) act[i] = Activate(gate[(int)i], up[(int)i], activation);
        }
        else
        {
            var both = GateUp.GatherForward(x, ids).AsSpan<float>();
            for (long r = 0; r < (long)tokens * slots; r++)
            {
                var row = both.Slice((int)(r * 2 * inter), 2 * inter);
                for (int j = 0; j < inter; j++)
                {
                    float g = Layout == GateUpLayout.Interleaved ? row[2 * j] : row[j];
                    float u = Layout == GateUpLayout.Interleaved ? row[2 * j + 1] : row[inter + j];
                    act[r * inter + j] = Activate(g, u, activation);
                }
            }
        }
        var down = Down.GatherForward(HostTensor.FromArray(act, tokens, slots, inter), ids).AsSpan<float>();
        var result = new float[(long)tokens * hidden];
        var idValues = ids.DType == DType.I32 ? ids.AsSpan<int>().ToArray() : ids.ToFloat32Array().Select(v => (int)v).ToArray();
        for (int t = 0; t < tokens; t++)
        {
            var row = result.AsSpan(t * hidden, hidden);
            for (int s = 0; s < slots; s++)
            {
                float w = routing[t * slots + s];
                var d = down.Slice((t * slots + s) * hidden, hidden);
                for (int h = 0; h < hidden; h++) row[h] += w * d[h];
            }
        }
        if (Comm is { WorldSize: > 1 } comm) comm.SumAllReduce(result);
        if (DownBias is not null)
        {
            var bias = DownBias.AsSpan<float>();
            for (int t = 0; t < tokens; t++)
            {
                var row = result.AsSpan(t * hidden, hidden);
                for (int s = 0; s < slots; s++)
                {
                    float w = routing[t * slots + s];
                    var b = bias.Slice(idValues[t * slots + s] * hidden, hidden);
                    for (int h = 0; h < hidden; h++) row[h] += w * b[h];
                }
            }
        }
        return HostTensor.FromArray(result, tokens, hidden);
    }

    private static float Activate(float gate, float up, ExpertActivation activation)
    {
        if (activation == ExpertActivation.SwiGlu) return gate / (1f + MathF.Exp(-gate)) * up;
        const float Alpha = 1.702f, Limit = 7f;
        gate = MathF.Min(gate, Limit);
        up = Math.Clamp(up, -Limit, Limit);
        float glu = gate / (1f + MathF.Exp(-Alpha * gate));
        return (up + 1f) * glu;
    }
}

/// <summary>
/// mistralrs-quant's <c>PackedExperts</c>: a dense <c>gate_up_proj</c> <c>[E, H, 2I]</c> (gate then up along the last
/// dimension) and <c>down_proj</c> <c>[E, I, H]</c>; gate and up are sharded with <see cref="Shard.Offset"/> on dim 2,
/// down with <see cref="Shard.Simple"/> on dim 1, and the outputs are reduced across ranks.
/// </summary>
public static class PackedExperts
{
    /// <summary>Loads the experts under <paramref name="vb"/>'s prefix (e.g. <c>model.layers.0.feed_forward.experts</c>).</summary>
    /// <exception cref="QuantFormatException">A tensor is missing or has another shape, or the sizes do not split over the ranks.</exception>
    public static ExpertLayers Load(int experts, int hidden, int intermediate, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(vb);
        if (intermediate % comm.WorldSize != 0) throw new QuantFormatException($"{vb.Prefix}: an intermediate size of {intermediate} does not split over {comm.WorldSize} ranks.");
        int part = intermediate / comm.WorldSize, start = part * comm.Rank;
        var gate = vb.Get([experts, hidden, 2 * intermediate], "gate_up_proj", Shard.Offset(2, start, part)).Transpose(1, 2);
        var up = vb.Get([experts, hidden, 2 * intermediate], "gate_up_proj", Shard.Offset(2, intermediate + start, part)).Transpose(1, 2);
        var down = vb.Get([experts, intermediate, hidden], "down_proj", Shard.Simple(1, comm.Rank, comm.WorldSize)).Transpose(1, 2);
        var gateLayer = Linears.ApplyImmediateIsq(new UnquantLinear(gate) { Threads = vb.Options.Threads }, vb.Pp("gate_up_proj"));
        var upLayer = Linears.ApplyImmediateIsq(new UnquantLinear(up) { Threads = vb.Options.Threads }, vb.Pp("gate_up_proj"));
        var downLayer = Linears.ApplyImmediateIsq(new UnquantLinear(down) { Threads = vb.Options.Threads }, vb.Pp("down_proj"), Shard.Simple(1, comm.Rank, comm.WorldSize));
        return new ExpertLayers(gateLayer, upLayer, downLayer, null, GateUpLayout.Separate, comm);
    }
}

/// <summary>
/// mistralrs-quant's <c>FusedExperts</c>: every expert stacked into one layer per projection, from a checkpoint that
/// stores experts one by one (<c>experts.{i}.gate_proj.weight</c> ...), stacked dense (<c>experts.gate_up_proj</c>
/// <c>[E, H, 2I]</c> concatenated or interleaved, <c>experts.down_proj</c> <c>[E, I, H]</c>, optional <c>_bias</c>), or in
/// GPT-OSS MXFP4 (<c>experts.gate_up_proj_blocks</c> ...). With more than one rank, each holds its share of the
/// intermediate dimension and the down projection's outputs are reduced.
/// </summary>
public static class FusedExperts
{
    /// <summary>Loads the experts under <paramref name="vb"/>'s prefix (the MLP's, e.g. <c>model.layers.0.mlp</c>).</summary>
    /// <param name="hidden">H.</param>
    /// <param name="intermediate">I, per expert.</param>
    /// <param name="experts">E.</param>
    /// <param name="config">The checkpoint's quantization (null or <see cref="QuantizedConfig.Mxfp4"/>).</param>
    /// <param name="layout">For stacked dense checkpoints, how <c>gate_up_proj</c> holds gate and up (GPT-OSS interleaves).</param>
    /// <param name="comm">The group (null: one rank).</param>
    /// <param name="vb">The MLP's builder.</param>
    /// <exception cref="QuantFormatException">Tensors are missing or have other shapes, or the shard does not fit the storage.</exception>
    public static ExpertLayers Load(int hidden, int intermediate, int experts, QuantizedConfig? config, GateUpLayout layout, IComm? comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(vb);
        int world = comm?.WorldSize ?? 1, rank = comm?.Rank ?? 0;
        if (intermediate % world != 0) throw new QuantFormatException($"{vb.Prefix}: an intermediate size of {intermediate} does not split over {world} ranks.");
        int part = intermediate / world;
        var ev = vb.Pp("experts");
        int threads = vb.Options.Threads;
        if (config is QuantizedConfig.Mxfp4)
        {
            // GPT-OSS: rows of gate_up alternate gate and up, so a rank's contiguous rows hold its gate/up pairs.
            var gateUp = Mxfp4Layer.PackedGptOssLinear(experts, hidden, 2 * intermediate, true, "gate_up_proj", ev, world == 1 ? default : Shard.Simple(1, rank, world), threads);
            var down = Mxfp4Layer.PackedGptOssLinear(experts, intermediate, hidden, false, "down_proj", ev, world == 1 ? default : Shard.Simple(2, rank, world), threads);
            var downBias = ev.Contains("down_proj_bias") ? ev.Get([experts, hidden], "down_proj_bias", default, DType.F32) : null;
            return new ExpertLayers(gateUp, null, down, downBias, GateUpLayout.Interleaved, comm);
        }
        if (config is not null) throw new QuantFormatException($"{vb.Prefix}: fused experts load dense or MXFP4 checkpoints; quantize others with ISQ.");
        if (ev.Contains("gate_up_proj"))
        {
            var gu = ev.Get([experts, hidden, 2 * intermediate], "gate_up_proj");
            HostTensor gateUpWeight;
            HostTensor? gateUpBias = null;
            var hasBias = ev.Contains("gate_up_proj_bias");
            var bias = hasBias ? ev.Get([experts, 2 * intermediate], "gate_up_proj_bias", default, DType.F32) : null;
            if (layout == GateUpLayout.Interleaved || world == 1)
            {
                // Interleaved pairs (or the whole of a concatenated weight on one rank) are one contiguous range of columns.
                var w = world == 1 ? gu : gu.Narrow(2, 2 * part * rank, 2 * part);
                gateUpWeight = w.Transpose(1, 2);
                gateUpBias = bias is null ? null : world == 1 ? bias : bias.Narrow(1, 2 * part * rank, 2 * part);
            }
            else
            {
                // Concatenated halves on several ranks: this rank's gate columns then its up columns.
                gateUpWeight = HostTensor.Concat([gu.Narrow(2, part * rank, part), gu.Narrow(2, intermediate + part * rank, part)], 2).Transpose(1, 2);
                gateUpBias = bias is null ? null : HostTensor.Concat([bias.Narrow(1, part * rank, part), bias.Narrow(1, intermediate + part * rank, part)], 1);
            }
            var down = ev.Get([experts, intermediate, hidden], "down_proj", world == 1 ? default : Shard.Simple(1, rank, world)).Transpose(1, 2);
            var downBias = ev.Contains("down_proj_bias") ? ev.Get([experts, hidden], "down_proj_bias", default, DType.F32) : null;
            var gateUpLayer = Linears.ApplyImmediateIsq(new UnquantLinear(gateUpWeight, gateUpBias) { Threads = threads }, ev.Pp("gate_up_proj"));
            var downLayer = Linears.ApplyImmediateIsq(new UnquantLinear(down) { Threads = threads }, ev.Pp("down_proj"), world == 1 ? default : Shard.Simple(1, rank, world));
            return new ExpertLayers(gateUpLayer, null, downLayer, downBias, layout == GateUpLayout.Separate ? GateUpLayout.Concatenated : layout, comm);
        }
        // One weight per expert: experts.{i}.gate_proj.weight [I, H], up_proj [I, H], down_proj [H, I].
        var gates = new List<HostTensor>(experts);
        var ups = new List<HostTensor>(experts);
        var downs = new List<HostTensor>(experts);
        var rows = world == 1 ? Shard.None : Shard.Simple(0, rank, world);
        var columns = world == 1 ? Shard.None : Shard.Simple(1, rank, world);
        for (int e = 0; e < experts; e++)
        {
            var x = ev.Pp(e);
            gates.Add(x.Get([intermediate, hidden], "gate_proj.weight", rows));
            ups.Add(x.Get([intermediate, hidden], "up_proj.weight", rows));
            downs.Add(x.Get([hidden, intermediate], "down_proj.weight", columns));
        }
        var g = Linears.ApplyImmediateIsq(new UnquantLinear(HostTensor.Stack(gates)) { Threads = threads }, ev.Pp("gate_proj"));
        var u = Linears.ApplyImmediateIsq(new UnquantLinear(HostTensor.Stack(ups)) { Threads = threads }, ev.Pp("up_proj"));
        var d = Linears.ApplyImmediateIsq(new UnquantLinear(HostTensor.Stack(downs)) { Threads = threads }, ev.Pp("down_proj"), columns);
        return new ExpertLayers(g, u, d, null, GateUpLayout.Separate, comm);
    }
}
