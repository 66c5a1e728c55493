using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Distributed;
using Quant.Runtime.Isq;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Models;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests;

/// <summary>
/// Every tensor-parallel layer, in-process for world sizes 1 to 8, against float64 of the unsharded weight: a rank's
/// output (column-parallel: its slice; row-parallel and replicated: the whole, after the reduction) must be within
/// 1e-5 of the sum of |w_i x_i|. Quantized variants use shapes whose shards cut whole blocks, so each rank's
/// quantized slice holds exactly the unsharded quantized values.
/// </summary>
public sealed class ParallelLayerTests(ITestOutputHelper output)
{
    /// <summary>(storage, ISQ format or null). "mxfp4-checkpoint" loads GPT-OSS style blocks/scales.</summary>
    public static TheoryData<string> Storages() => new() { "f32", "bf16", "q8_0", "q4_K", "mxfp4", "mxfp4-checkpoint" };

    private static (Dictionary<string, HostTensor> Tensors, QuantizedConfig? Config, LoadOptions Options) Checkpoint(string storage, int n, int k, SplitMix64 rng)
    {
        var tensors = new Dictionary<string, HostTensor>();
        var bias = TestTensors.Random(rng, DType.BF16, n);
        tensors["layer.bias"] = bias;
        if (storage == "mxfp4-checkpoint")
        {
            var matrix = Quant.Kernels.FormatKernels.For("mxfp4").Quantize(TestTensors.Gaussian(rng, (long)n * k), n, k);
            tensors["layer.blocks"] = HostTensor.FromOwnedBytes(DType.U8, [n, k / 2], matrix.Plane(0).ToArray());
            tensors["layer.scales"] = HostTensor.FromOwnedBytes(DType.U8, [n, k / 32], matrix.Plane(1).ToArray());
            return (tensors, new QuantizedConfig.Mxfp4(), LoadOptions.Default);
        }
        tensors["layer.weight"] = TestTensors.Random(rng, storage == "f32" ? DType.F32 : DType.BF16, n, k);
        var options = storage is "f32" or "bf16" ? LoadOptions.Default : new LoadOptions { Isq = IsqRules.All(storage) };
        return (tensors, null, options);
    }

    [Theory, MemberData(nameof(Storages))]
    public void RowColumnReplicated_EqualTheUnshardedLayer_ForWorldSizes1To8(string storage)
    {
        var rng = new SplitMix64(601);
        for (int world = 1; world <= 8; world++)
        {
            // K: 256 per rank (a whole q4_K super-block); N: 8 per rank (whole rows for column shards).
            int k = 256 * world, n = 8 * world, batch = 3;
            var (tensors, config, options) = Checkpoint(storage, n, k, rng);
            foreach (bool withBias in new[] { false, true })
            {
                var vb = ShardedVarBuilder.FromTensors(tensors, options).Pp("layer");
                var whole = Linears.Load(k, n, config, withBias, Shard.None, vb);
                var w = whole.DequantizeWeight().AsSpan<float>().ToArray();
                var bias = withBias ? tensors["layer.bias"].ToFloat32Array() : null;
                var x = TestTensors.Gaussian(rng, batch * k);
                var (expected, abs) = Reference.Linear(w, n, k, x, bias);

                var results = Comm.Run(CommKind.InProcess, world, comm =>
                {
                    var column = ColumnParallelLinear.Load(k, n, config, withBias, comm, vb);
                    var row = RowParallelLinear.Load(k, n, config, withBias, comm, vb);
                    var replicated = ReplicatedLinear.Load(k, n, config, withBias, vb);
                    int part = k / comm.WorldSize;
                    var xSlice = new float[batch * part];
                    for (int b = 0; b < batch; b++) x.AsSpan(b * k + comm.Rank * part, part).CopyTo(xSlice.AsSpan(b * part));
                    return (
                        Column: column.Forward(HostTensor.FromArray(x, batch, k)).ToFloat32Array(),
                        Row: row.Forward(HostTensor.FromArray(xSlice, batch, part)).ToFloat32Array(),
                        Replicated: replicated.Forward(HostTensor.FromArray(x, batch, k)).ToFloat32Array(),
                        Kinds: (column.IsDistributed, row.IsDistributed, replicated.IsDistributed));
                });
                string context = $"seed 601, {storage}, world {world}, bias {withBias}";
                int rows = n / world;
                foreach (var (rank, r) in results)
                {
                    Assert.Equal(((DistributedKind?)DistributedKind.ColumnParallel, (DistributedKind?)DistributedKind.RowParallel, (DistributedKind?)DistributedKind.Replicated), r.Kinds);
                    Reference.AssertClose(expected, abs, r.Row, $"{context}, rank {rank}, row-parallel");
                    Reference.AssertClose(expected, abs, r.Replicated, $"{context}, rank {rank}, replicated");
                    var exp = new double[batch * rows];
                    var ab = new double[batch * rows];
                    for (int b = 0; b < batch; b++)
                    {
                        Array.Copy(expected, b * n + rank * rows, exp, b * rows, rows);
                        Array.Copy(abs, b * n + rank * rows, ab, b * rows, rows);
                    }
                    Reference.AssertClose(exp, ab, r.Column, $"{context}, rank {rank}, column-parallel");
                    // Every rank's reduced output is the same bits.
                    Assert.Equal(results[0].Value.Row, r.Row);
                }
            }
        }
    }

    [Fact]
    public void RowParallel_RefusesAnInputThatDoesNotSplit()
    {
        var rng = new SplitMix64(602);
        var vb = ShardedVarBuilder.FromTensors(new Dictionary<string, HostTensor> { ["w.weight"] = TestTensors.Random(rng, DType.F32, 4, 30) }).Pp("w");
        var e = Assert.Throws<QuantFormatException>(() => Comm.Run(CommKind.InProcess, 4, comm => RowParallelLinear.Load(30, 4, null, false, comm, vb)));
        Assert.Contains("do not split evenly over 4 ranks", e.Message);
    }

    public static TheoryData<int, int, int> HeadLayouts() => new()
    {
        // (heads, kv heads, world): odd head counts, and worlds larger than the KV heads (replication).
        { 6, 3, 1 }, { 6, 3, 3 }, { 6, 3, 6 }, { 6, 1, 2 }, { 6, 1, 3 }, { 5, 1, 5 }, { 8, 2, 4 }, { 8, 2, 8 }, { 7, 7, 7 },
    };

    [Theory, MemberData(nameof(HeadLayouts))]
    public void Block_AttentionAndMxfp4Experts_EqualsTheUnshardedBlock(int heads, int kvHeads, int world)
    {
        var config = new MoeBlockConfig(Hidden: 64, Heads: heads, KvHeads: kvHeads, HeadDim: 16, Experts: 8, TopK: 3, Intermediate: 32 * world);
        var tensors = MoeTransformerBlock.Synthesize(config, 603);
        var vb = ShardedVarBuilder.FromTensors(tensors);
        var rng = new SplitMix64(603);
        var x = HostTensor.FromArray(TestTensors.Gaussian(rng, 5 * config.Hidden), 5, config.Hidden);
        var reference = Comm.Run(CommKind.InProcess, 1, comm => MoeTransformerBlock.Load(config, comm, vb).Forward(x).ToFloat32Array())[0].Value;
        var sharded = Comm.Run(CommKind.InProcess, world, comm => MoeTransformerBlock.Load(config, comm, vb).Forward(x).ToFloat32Array());
        double scale = Math.Sqrt(reference.Average(v => (double)v * v));
        foreach (var (rank, y) in sharded)
        {
            double worst = 0;
            for (int i = 0; i < y.Length; i++) worst = Math.Max(worst, Math.Abs(y[i] - reference[i]));
            output.WriteLine($"heads {heads}, kv {kvHeads}, world {world}, rank {rank}: max |sharded - unsharded| = {worst:G3} (output RMS {scale:G3})");
            Assert.True(worst <= 1e-4 * scale, $"rank {rank}: the sharded block differs by {worst:G3}, more than 1e-4 of the output RMS {scale:G3}");
            Assert.Equal(sharded[0].Value, y);
        }
    }

    [Fact]
    public void KvShard_ReplicatesHeads_AsTheSeedsCompute()
    {
        var shards = Comm.Run(CommKind.InProcess, 8, comm => (KvSharding.ComputeKvShard(2, 16, comm), KvSharding.ComputeNKvGroups(2, 8, comm)));
        for (int r = 0; r < 8; r++)
        {
            Assert.Equal(Shard.Offset(0, r / 4 * 16, 16), shards[r].Value.Item1);
            Assert.Equal(1, shards[r].Value.Item2);
        }
        var one = Comm.Run(CommKind.InProcess, 1, comm => KvSharding.ComputeKvShard(2, 16, comm))[0].Value;
        Assert.Equal(Shard.None, one);
        var even = Comm.Run(CommKind.InProcess, 2, comm => KvSharding.ComputeKvShard(4, 16, comm));
        Assert.Equal(Shard.Simple(0, 1, 2), even[1].Value);
    }
}

public sealed class ParallelSerdeTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("q4_0")]
    [InlineData("mxfp4")]
    public void ParallelLayers_RoundTripThroughTheirBlobs_PerRank(string? isq)
    {
        var rng = new SplitMix64(620);
        int n = 16, k = 128;
        var tensors = new Dictionary<string, HostTensor> { ["w.weight"] = TestTensors.Random(rng, DType.BF16, n, k), ["w.bias"] = TestTensors.Random(rng, DType.F32, n) };
        var options = isq is null ? LoadOptions.Default : new LoadOptions { Isq = IsqRules.All(isq) };
        var vb = ShardedVarBuilder.FromTensors(tensors, options).Pp("w");
        var x = TestTensors.Gaussian(rng, 2 * k);
        var results = Comm.Run(CommKind.InProcess, 2, comm =>
        {
            var row = RowParallelLinear.Load(k, n, null, true, comm, vb);
            var column = ColumnParallelLinear.Load(k, n, null, true, comm, vb);
            var replicated = ReplicatedLinear.Load(k, n, null, true, vb);
            var rowBack = RowParallelLinear.Deserialize(row.Serialize(), comm);
            var columnBack = ColumnParallelLinear.Deserialize(column.Serialize());
            var replicatedBack = ReplicatedLinear.Deserialize(replicated.Serialize());
            var slice = new float[2 * k / 2];
            for (int b = 0; b < 2; b++) x.AsSpan(b * k + comm.Rank * k / 2, k / 2).CopyTo(slice.AsSpan(b * k / 2));
            var xs = HostTensor.FromArray(slice, 2, k / 2);
            var xf = HostTensor.FromArray(x, 2, k);
            return (row.Forward(xs).ToFloat32Array(), rowBack.Forward(xs).ToFloat32Array(),
                column.Forward(xf).ToFloat32Array(), columnBack.Forward(xf).ToFloat32Array(),
                replicated.Forward(xf).ToFloat32Array(), replicatedBack.Forward(xf).ToFloat32Array(), rowBack.HasBias && columnBack.HasBias);
        });
        foreach (var (_, r) in results)
        {
            Assert.Equal(r.Item1, r.Item2);
            Assert.Equal(r.Item3, r.Item4);
            Assert.Equal(r.Item5, r.Item6);
            Assert.True(r.Item7);
        }
    }
}
