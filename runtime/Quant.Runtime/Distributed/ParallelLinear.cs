using System;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Distributed;

/// <summary>
/// What the tensor-parallel layers share: an inner layer holding this rank's part of the weight, and a bias the
/// wrapper adds itself. Everything that concerns the weight forwards to the inner layer.
/// </summary>
public abstract class ParallelLinear : IQuantMethod
{
    /// <summary>Wraps <paramref name="weight"/> (without a bias of its own) and <paramref name="bias"/>.</summary>
    protected ParallelLinear(IQuantMethod weight, HostTensor? bias)
    {
        Weight = weight ?? throw new ArgumentNullException(nameof(weight));
        if (bias is not null && bias.ElementCount != weight.OutFeatures && weight is not DummyLayer)
            throw new ArgumentException($"The bias {bias} does not fit {weight.OutFeatures} outputs.", nameof(bias));
        BiasTensor = bias?.ToDType(DType.F32);
    }

    /// <summary>This rank's part of the weight.</summary>
    public IQuantMethod Weight { get; }

    /// <summary>The bias the wrapper adds (F32), or null.</summary>
    public HostTensor? BiasTensor { get; }

    /// <inheritdoc />
    public string Name => Weight.Name;

    /// <inheritdoc />
    public QuantFormatInfo? Format => Weight.Format;

    /// <inheritdoc />
    public DType DType => Weight.DType;

    /// <inheritdoc />
    public ComputeDevice Device => Weight.Device;

    /// <inheritdoc />
    public virtual int InFeatures => Weight.InFeatures;

    /// <inheritdoc />
    public virtual int OutFeatures => Weight.OutFeatures;

    /// <inheritdoc />
    public int Experts => Weight.Experts;

    /// <inheritdoc />
    public bool HasBias => BiasTensor is not null || Weight.HasBias;

    /// <inheritdoc />
    public abstract DistributedKind? IsDistributed { get; }

    /// <inheritdoc />
    public bool IsSerializable => Weight.IsSerializable;

    /// <inheritdoc />
    public abstract HostTensor Forward(HostTensor x);

    /// <inheritdoc />
    public HostTensor GatherForward(HostTensor x, HostTensor indices) => throw new InvalidOperationException($"{GetType().Name} '{Name}' is a linear layer; experts use PackedExperts or FusedExperts.");

    /// <inheritdoc />
    public HostTensor DequantizeWeight() => Weight.DequantizeWeight();

    /// <inheritdoc />
    public IQuantMethod ApplyIsq(IsqRequest request) => With(Weight.ApplyIsq(request));

    /// <inheritdoc />
    public IQuantMethod AddDeltaW(HostTensor delta) => With(Weight.AddDeltaW(delta));

    /// <inheritdoc />
    public (HostTensor Weight, HostTensor? Bias)? UnquantWeightBias() => Weight.UnquantWeightBias() is { } wb ? (wb.Weight, BiasTensor ?? wb.Bias) : null;

    /// <inheritdoc />
    public void BeginTrackStats() => Weight.BeginTrackStats();

    /// <inheritdoc />
    public HostTensor EndTrackStats() => Weight.EndTrackStats();

    /// <inheritdoc />
    public byte[] Serialize() => BiasTensor is null ? Weight.Serialize() : Weight.SerializeWithBias(BiasTensor);

    /// <inheritdoc />
    public byte[] SerializeWithBias(HostTensor? bias) => Weight.SerializeWithBias(bias);

    /// <summary>The same wrapper around another inner layer.</summary>
    protected abstract IQuantMethod With(IQuantMethod weight);

    /// <summary>Adds the bias to every row of <paramref name="y"/> (F32 <c>[..., N]</c>, writable).</summary>
    protected void AddBias(HostTensor y)
    {
        if (BiasTensor is null) return;
        var values = y.AsWritableSpan<float>();
        var bias = BiasTensor.AsSpan<float>();
        for (int i = 0; i < values.Length; i += bias.Length)
        {
            var row = values.Slice(i, bias.Length);
            for (int j = 0; j < row.Length; j++) row[j] += bias[j];
        }
    }
}

/// <summary>
/// mistralrs-quant's <c>RowParallelLayer</c>: the weight is split along its input dimension (dim 1) over the ranks;
/// each rank multiplies its slice of the activations, the partial outputs are sum-all-reduced, then the bias is
/// added once. Takes the rank's slice of <c>x</c>, <c>[..., K / worldSize]</c>; returns the full <c>[..., N]</c> on every rank.
/// </summary>
public sealed class RowParallelLinear : ParallelLinear
{
    private readonly IComm _comm;

    /// <summary>Wraps this rank's weight slice, the whole bias and the group's comm.</summary>
    public RowParallelLinear(IQuantMethod weight, HostTensor? bias, IComm comm) : base(weight, bias) => _comm = comm ?? throw new ArgumentNullException(nameof(comm));

    /// <summary>Loads <c>weight</c> <c>[outDim, inDim]</c> (this rank's columns) and <c>bias</c> <c>[outDim]</c> under <paramref name="vb"/>'s prefix.</summary>
    public static RowParallelLinear Load(int inDim, int outDim, QuantizedConfig? config, bool bias, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(vb);
        var shard = Shard.Simple(1, comm.Rank, comm.WorldSize);
        var weight = Linears.Load(inDim, outDim, config, false, shard, vb);
        var b = bias && vb.Contains("bias") ? vb.Get([outDim], "bias", default, DType.F32) : null;
        return new RowParallelLinear(weight, b, comm);
    }

    /// <summary>
    /// The seeds' <c>new_matformer</c>: a MatFormer slice keeps the first <paramref name="inDim"/> of the checkpoint's
    /// <paramref name="originalInDim"/> input columns, then shards them. Dense checkpoints only.
    /// </summary>
    public static RowParallelLinear LoadMatformer(int inDim, int outDim, int originalInDim, bool bias, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(vb);
        if (inDim > originalInDim) throw new ArgumentOutOfRangeException(nameof(inDim), $"A MatFormer slice of {inDim} columns is wider than the checkpoint's {originalInDim}.");
        IQuantMethod weight;
        if (!vb.Contains("weight")) weight = new DummyLayer(vb.Prefix, inDim, outDim);
        else
        {
            var full = vb.Get([outDim, originalInDim], "weight").Narrow(1, 0, inDim);
            var range = Shard.Simple(1, comm.Rank, comm.WorldSize).Resolve([outDim, inDim], vb.Prefix)!.Value;
            var shard = Shard.Simple(1, comm.Rank, comm.WorldSize);
            var w = full.Narrow(1, range.Start, range.Length);
            if (vb.Options.Lora is { } lora) w = lora.Merge(vb.Prefix, w, inDim, outDim, shard);
            weight = Linears.ApplyImmediateIsq(new UnquantLinear(w) { Threads = vb.Options.Threads }, vb, shard);
        }
        var b = bias && vb.Contains("bias") ? vb.Get([outDim], "bias", default, DType.F32) : null;
        return new RowParallelLinear(weight, b, comm);
    }

    /// <summary>The seeds' <c>deserialize</c>: a layer blob (this rank's slice) whose bias is added after the reduction.</summary>
    /// <exception cref="QuantFormatException">The blob is corrupt.</exception>
    public static RowParallelLinear Deserialize(ReadOnlySpan<byte> blob, IComm comm)
    {
        var (weight, bias) = QuantMethods.DeserializeExtBias(blob);
        return new RowParallelLinear(weight, bias, comm);
    }

    /// <summary>The full input dimension (this rank's slice times the world size).</summary>
    public override int InFeatures => Weight.InFeatures * _comm.WorldSize;

    /// <inheritdoc />
    public override DistributedKind? IsDistributed => DistributedKind.RowParallel;

    /// <inheritdoc />
    public override HostTensor Forward(HostTensor x)
    {
        var y = Weight.Forward(x);
        _comm.SumAllReduce(y.AsWritableSpan<float>());
        AddBias(y);
        return y;
    }

    /// <inheritdoc />
    protected override IQuantMethod With(IQuantMethod weight) => new RowParallelLinear(weight, BiasTensor, _comm);
}

/// <summary>
/// mistralrs-quant's <c>ColumnParallelLayer</c>: the weight and bias are split along the output dimension (dim 0);
/// each rank computes its slice of the outputs, <c>[..., N / worldSize]</c>, from the whole input.
/// </summary>
public sealed class ColumnParallelLinear : ParallelLinear
{
    /// <summary>Wraps this rank's rows of the weight and its slice of the bias.</summary>
    public ColumnParallelLinear(IQuantMethod weight, HostTensor? bias) : base(weight, bias) { }

    /// <summary>Loads this rank's rows (<see cref="Shard.Simple"/> on dim 0) of <c>weight</c> and <c>bias</c>.</summary>
    public static ColumnParallelLinear Load(int inDim, int outDim, QuantizedConfig? config, bool bias, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(comm);
        return LoadWithShard(inDim, outDim, config, bias, Shard.Simple(0, comm.Rank, comm.WorldSize), vb);
    }

    /// <summary>Loads the rows <paramref name="shard"/> (on dim 0) names: the KV projections use <see cref="KvSharding.ComputeKvShard"/>.</summary>
    public static ColumnParallelLinear LoadWithShard(int inDim, int outDim, QuantizedConfig? config, bool bias, Shard shard, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(vb);
        var weight = Linears.Load(inDim, outDim, config, false, shard, vb);
        var b = bias && vb.Contains("bias") ? vb.Get([outDim], "bias", shard, DType.F32) : null;
        return new ColumnParallelLinear(weight, b);
    }

    /// <summary>
    /// The seeds' <c>new_merged</c>: a weight holding <paramref name="chunks"/> projections stacked on dim 0 (e.g. gate
    /// and up) becomes one layer per chunk, each with this rank's rows of that chunk.
    /// </summary>
    public static ColumnParallelLinear[] LoadMerged(int inDim, int outDim, int chunks, QuantizedConfig? config, bool bias, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(comm);
        var layers = new ColumnParallelLinear[chunks];
        for (int c = 0; c < chunks; c++)
            layers[c] = LoadWithShard(inDim, outDim, config, bias, Shard.Simple(0, c * comm.WorldSize + comm.Rank, chunks * comm.WorldSize), vb);
        return layers;
    }

    /// <summary>The seeds' <c>new_matformer</c>: keeps the first <paramref name="outDim"/> of <paramref name="originalOutDim"/> rows, then shards them.</summary>
    public static ColumnParallelLinear LoadMatformer(int inDim, int outDim, int originalOutDim, bool bias, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(vb);
        if (outDim > originalOutDim) throw new ArgumentOutOfRangeException(nameof(outDim), $"A MatFormer slice of {outDim} rows is taller than the checkpoint's {originalOutDim}.");
        var shard = Shard.Simple(0, comm.Rank, comm.WorldSize);
        var range = shard.Resolve([outDim, inDim], vb.Prefix)!.Value;
        IQuantMethod weight;
        if (!vb.Contains("weight")) weight = new DummyLayer(vb.Prefix, inDim, outDim);
        else
        {
            var w = vb.Get([originalOutDim, inDim], "weight", Shard.Offset(0, range.Start, range.Length));
            if (vb.Options.Lora is { } lora) w = lora.Merge(vb.Prefix, w, inDim, outDim, shard);
            weight = Linears.ApplyImmediateIsq(new UnquantLinear(w) { Threads = vb.Options.Threads }, vb, shard);
        }
        var b = bias && vb.Contains("bias") ? vb.Get([outDim], "bias", shard, DType.F32) : null;
        return new ColumnParallelLinear(weight, b);
    }

    /// <summary>The seeds' <c>deserialize</c>: a layer blob holding this rank's rows and bias.</summary>
    /// <exception cref="QuantFormatException">The blob is corrupt.</exception>
    public static ColumnParallelLinear Deserialize(ReadOnlySpan<byte> blob)
    {
        var (weight, bias) = QuantMethods.DeserializeExtBias(blob);
        return new ColumnParallelLinear(weight, bias);
    }

    /// <inheritdoc />
    public override DistributedKind? IsDistributed => DistributedKind.ColumnParallel;

    /// <inheritdoc />
    public override HostTensor Forward(HostTensor x)
    {
        var y = Weight.Forward(x);
        AddBias(y);
        return y;
    }

    /// <inheritdoc />
    protected override IQuantMethod With(IQuantMethod weight) => new ColumnParallelLinear(weight, BiasTensor);
}

/// <summary>mistralrs-quant's <c>ReplicatedLayer</c>: the whole weight on every rank.</summary>
public sealed class ReplicatedLinear : ParallelLinear
{
    /// <summary>Wraps a whole layer (its bias stays inside it).</summary>
    public ReplicatedLinear(IQuantMethod weight) : base(weight, null) { }

    /// <summary>Loads the whole <c>weight</c> and <c>bias</c>.</summary>
    public static ReplicatedLinear Load(int inDim, int outDim, QuantizedConfig? config, bool bias, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(vb);
        return new ReplicatedLinear(Linears.Load(inDim, outDim, config, bias && vb.Contains("bias"), Shard.None, vb));
    }

    /// <summary>The seeds' <c>deserialize</c>: a whole layer with its bias.</summary>
    /// <exception cref="QuantFormatException">The blob is corrupt.</exception>
    public static ReplicatedLinear Deserialize(ReadOnlySpan<byte> blob) => new(QuantMethods.Deserialize(blob));

    /// <inheritdoc />
    public override DistributedKind? IsDistributed => DistributedKind.Replicated;

    /// <inheritdoc />
    public override HostTensor Forward(HostTensor x) => Weight.Forward(x);

    /// <inheritdoc />
    protected override IQuantMethod With(IQuantMethod weight) => new ReplicatedLinear(weight);
}

/// <summary>How attention's KV heads are split when the world is larger than their count (the seeds' <c>compute_kv_shard</c> / <c>compute_n_kv_groups</c>).</summary>
public static class KvSharding
{
    /// <summary>
    /// The rows of the K and V projections (<c>[kvHeads * headDim, hidden]</c>) this rank loads: its share of the heads,
    /// or, when the world is larger than the head count, the one head it shares with <c>worldSize / kvHeads</c> ranks.
    /// </summary>
    public static Shard ComputeKvShard(int totalKvHeads, int headDim, IComm comm)
    {
        ArgumentNullException.ThrowIfNull(comm);
        if (comm.WorldSize == 1) return Shard.None;
        if (comm.WorldSize <= totalKvHeads) return Shard.Simple(0, comm.Rank, comm.WorldSize);
        int replicate = comm.WorldSize / totalKvHeads;
        int kvHeadsPerRank = Math.Max(totalKvHeads / comm.WorldSize, 1);
        int head = comm.Rank / replicate * kvHeadsPerRank;
        return Shard.Offset(0, head * headDim, headDim);
    }

    /// <summary>How many query heads share one KV head on a rank, after KV replication.</summary>
    public static int ComputeNKvGroups(int totalKvHeads, int attentionHeads, IComm comm)
    {
        ArgumentNullException.ThrowIfNull(comm);
        int replicate = comm.WorldSize > totalKvHeads ? comm.WorldSize / totalKvHeads : 1;
        return attentionHeads / totalKvHeads / replicate;
    }
}
