using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Distributed;
using Quant.Runtime.Imatrix;
using Quant.Runtime.Isq;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Lora;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests;

public sealed class IsqLoraImatrixTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestTensors.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ImmediateIsq_Of64Layers_KeepsAtMostWorkersPlusOnePending_AndEqualsQuantizingByHand()
    {
        var rng = new SplitMix64(701);
        const int Layers = 64, N = 32, K = 256;
        var tensors = new Dictionary<string, HostTensor>();
        for (int l = 0; l < Layers; l++) tensors[$"model.layers.{l}.mlp.down_proj.weight"] = TestTensors.Random(rng, DType.BF16, N, K);
        var rules = IsqRules.ParseText("""
            # down projections of odd layers stay dense; the rest go to q4_K, layer 0 to q8_0
            layers\.0\. = q8_0
            layers\.[0-9]*[13579]\.mlp = dense
            * = q4_K:mse
            """);
        using var scheduler = new IsqScheduler(workers: 2);
        var progress = new List<IsqProgress>();
        int maxSeen = 0;
        scheduler.Progress += p =>
        {
            lock (progress) progress.Add(p);
            int pending = scheduler.Pending;
            int seen;
            while (pending > (seen = Volatile.Read(ref maxSeen)) && Interlocked.CompareExchange(ref maxSeen, pending, seen) != seen) { }
        };
        var vb = ShardedVarBuilder.FromTensors(tensors, new LoadOptions { Isq = rules, IsqScheduler = scheduler });
        var layers = new IQuantMethod[Layers];
        for (int l = 0; l < Layers; l++)
        {
            layers[l] = ReplicatedLinear.Load(K, N, null, false, vb.Pp($"model.layers.{l}.mlp.down_proj"));
            Assert.True(scheduler.Pending <= scheduler.MaxPending, $"after submitting layer {l}: {scheduler.Pending} pending");
        }
        scheduler.WaitAll();
        output.WriteLine($"64 layers, 2 workers: peak pending {scheduler.PeakPending} (bound {scheduler.MaxPending}), {progress.Count} progress events");
        Assert.InRange(scheduler.PeakPending, 1, scheduler.MaxPending);
        Assert.Equal(Layers / 2, progress.Count);
        var x = HostTensor.FromArray(TestTensors.Gaussian(rng, K), 1, K);
        for (int l = 0; l < Layers; l++)
        {
            var weight = tensors[$"model.layers.{l}.mlp.down_proj.weight"].ToFloat32Array();
            var inner = ((ReplicatedLinear)layers[l]).Weight;
            string? format = l == 0 ? "q8_0" : l % 2 == 1 ? null : "q4_K";
            if (format is null)
            {
                Assert.IsType<UnquantLinear>(inner);
                continue;
            }
            var pending = Assert.IsType<PendingLayer>(inner);
            var resolved = Assert.IsType<QuantLinear>(pending.Resolve());
            Assert.Equal(format, resolved.Name);
            var kernels = FormatKernels.For(format);
            var byHand = kernels.Quantize(weight, N, K, kernels.Info.FindRule(l == 0 ? null : "mse"));
            for (int p = 0; p < byHand.Format.Planes.Count; p++) Assert.True(byHand.Plane(p).Span.SequenceEqual(resolved.Weight.Plane(p).Span), $"layer {l} plane {p}");
            var expected = new float[N];
            kernels.MatMul(byHand, x.AsSpan<float>(), expected);
            Assert.Equal(expected, layers[l].Forward(x).AsSpan<float>().ToArray());
        }
    }

    [Fact]
    public void IsqRules_JsonAndTextForms_AndTheirErrors()
    {
        var json = IsqRules.ParseJson("""{"default": "q4_K", "rules": [{"match": "lm_head", "format": "dense"}, {"match": "down_proj$", "format": "q6_K", "rule": "mse"}]}""");
        Assert.Null(json.Resolve("lm_head"));
        Assert.Equal(("q6_K", "mse"), json.Resolve("model.layers.3.mlp.down_proj")!.Value);
        Assert.Equal(("q4_K", (string?)null), json.Resolve("model.layers.3.mlp.up_proj")!.Value);
        json.Validate();
        var e = Assert.Throws<QuantFormatException>(() => IsqRules.ParseText("ok = q4_0\n(unclosed = q8_0", "rules.txt"));
        Assert.Contains("rules.txt, line 2", e.Message);
        e = Assert.Throws<QuantFormatException>(() => IsqRules.ParseText("x = q9_9").Validate());
        Assert.Contains("'q9_9'", e.Message);
        e = Assert.Throws<QuantFormatException>(() => IsqRules.ParseText("x = q4_0:nope").Validate());
        Assert.Contains("no quantization rule 'nope'", e.Message);
    }

    [Fact]
    public void IsqFailure_SurfacesOnFirstUse_NamingTheLayer()
    {
        using var scheduler = new IsqScheduler(1);
        var layer = new UnquantLinear(HostTensor.Zeros(DType.F32, 4, 48));
        var pending = scheduler.Submit("model.layers.9.self_attn.q_proj", layer, new IsqRequest("q4_K"));
        var e = Assert.Throws<InvalidOperationException>(() => pending.Forward(HostTensor.Zeros(DType.F32, 1, 48)));
        Assert.Contains("model.layers.9.self_attn.q_proj", e.Message);
        Assert.Contains("256", e.InnerException!.Message);
    }

    private void WriteAdapter(string folder, Dictionary<string, HostTensor> tensors, int r, float alpha, string[] modules)
    {
        Directory.CreateDirectory(folder);
        SafetensorsWriter.WriteFile(Path.Combine(folder, "adapter_model.safetensors"), tensors);
        File.WriteAllText(Path.Combine(folder, "adapter_config.json"), JsonSerializer.Serialize(new { r, lora_alpha = alpha, target_modules = modules, peft_type = "LORA" }));
    }

    [Fact]
    public void Lora_MergesBTimesAScaled_BeforeIsq_OnlyIntoTargetedModules_AndPerShard()
    {
        var rng = new SplitMix64(702);
        int n = 16, k = 64, r = 4;
        var weight = TestTensors.Random(rng, DType.F32, n, k);
        var other = TestTensors.Random(rng, DType.F32, n, k);
        var a = TestTensors.Random(rng, DType.F32, r, k);
        var b = TestTensors.Random(rng, DType.F32, n, r);
        string folder = Path.Combine(_dir.Path, "adapter");
        WriteAdapter(folder, new Dictionary<string, HostTensor>
        {
            ["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"] = a,
            ["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"] = b,
        }, r, alpha: 8, modules: ["q_proj"]);
        using var adapter = LoraAdapter.Load(folder);
        Assert.Equal(2f, adapter.Scale);
        var tensors = new Dictionary<string, HostTensor>
        {
            ["model.layers.0.self_attn.q_proj.weight"] = weight,
            ["model.layers.0.self_attn.k_proj.weight"] = other,
        };
        var vb = ShardedVarBuilder.FromTensors(tensors, new LoadOptions { Lora = new LoraSet([adapter]) });

        // Expected W + 2 * B A in float64.
        var expected = new double[n * k];
        var w = weight.AsSpan<float>();
        var av = a.AsSpan<float>();
        var bv = b.AsSpan<float>();
        for (int o = 0; o < n; o++)
            for (int i = 0; i < k; i++)
            {
                double d = 0;
                for (int j = 0; j < r; j++) d += (double)bv[o * r + j] * av[j * k + i];
                expected[o * k + i] = w[o * k + i] + 2 * d;
            }
        var merged = ((ReplicatedLinear)ReplicatedLinear.Load(k, n, null, false, vb.Pp("model.layers.0.self_attn.q_proj"))).Weight.DequantizeWeight().AsSpan<float>();
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(merged[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"element {i}: {merged[i]} vs {expected[i]}");
        var untouched = ReplicatedLinear.Load(k, n, null, false, vb.Pp("model.layers.0.self_attn.k_proj")).DequantizeWeight().AsSpan<float>();
        Assert.True(untouched.SequenceEqual(other.AsSpan<float>()));

        // Sharded: each rank's rows (column-parallel) and columns (row-parallel) of the merged weight.
        var ranks = Comm.Run(CommKind.InProcess, 2, comm => (
            Column: ColumnParallelLinear.Load(k, n, null, false, comm, vb.Pp("model.layers.0.self_attn.q_proj")).DequantizeWeight().ToFloat32Array(),
            Row: RowParallelLinear.Load(k, n, null, false, comm, vb.Pp("model.layers.0.self_attn.q_proj")).DequantizeWeight().ToFloat32Array()));
        foreach (var (rank, parts) in ranks)
        {
            for (int o = 0; o < n / 2; o++)
                for (int i = 0; i < k; i++)
                    Assert.True(Math.Abs(parts.Column[o * k + i] - expected[(rank * n / 2 + o) * k + i]) <= 1e-5 * (1 + Math.Abs(expected[(rank * n / 2 + o) * k + i])));
            for (int o = 0; o < n; o++)
                for (int i = 0; i < k / 2; i++)
                    Assert.True(Math.Abs(parts.Row[o * k / 2 + i] - expected[o * k + rank * k / 2 + i]) <= 1e-5 * (1 + Math.Abs(expected[o * k + rank * k / 2 + i])));
        }

        // Before ISQ: the quantized layer is the quantization of the merged weight.
        var isqVb = vb.WithOptions(vb.Options with { Isq = IsqRules.All("q8_0") });
        var quantized = (QuantLinear)((ReplicatedLinear)ReplicatedLinear.Load(k, n, null, false, isqVb.Pp("model.layers.0.self_attn.q_proj"))).Weight;
        var byHand = FormatKernels.For("q8_0").Quantize(merged.ToArray(), n, k);
        Assert.True(byHand.Plane(0).Span.SequenceEqual(quantized.Weight.Plane(0).Span));
    }

    [Fact]
    public void Imatrix_TrackedStats_SaveLoad_AndReachTheQuantizer()
    {
        var rng = new SplitMix64(703);
        int n = 8, k = 256;
        var weight = TestTensors.Random(rng, DType.F32, n, k);
        var tensors = new Dictionary<string, HostTensor> { ["blk.weight"] = weight };
        var dense = ReplicatedLinear.Load(k, n, null, false, ShardedVarBuilder.FromTensors(tensors).Pp("blk"));
        var layers = new Dictionary<string, IQuantMethod> { ["blk"] = dense };
        ImatrixFile.BeginTracking(layers);
        var x = new float[4 * k];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextGaussian() * (1 + (i % k) / 16.0));
        dense.Forward(HostTensor.FromArray(x, 4, k));
        var stats = ImatrixFile.EndTracking(layers);
        string path = Path.Combine(_dir.Path, "model.imatrix.safetensors");
        ImatrixFile.Save(path, stats);
        var loaded = ImatrixFile.Load(path);
        Assert.Equal(stats["blk"].AsSpan<float>().ToArray(), loaded["blk"].AsSpan<float>().ToArray());

        var vb = ShardedVarBuilder.FromTensors(tensors, new LoadOptions { Isq = IsqRules.All("q4_K"), Imatrix = loaded }).Pp("blk");
        var quantized = (QuantLinear)((ReplicatedLinear)ReplicatedLinear.Load(k, n, null, false, vb)).Weight;
        var kernels = FormatKernels.For("q4_K");
        var withImportance = kernels.Quantize(weight.AsSpan<float>(), n, k, -1, loaded["blk"].AsSpan<float>());
        var without = kernels.Quantize(weight.AsSpan<float>(), n, k);
        Assert.True(withImportance.Plane(0).Span.SequenceEqual(quantized.Weight.Plane(0).Span));
        Assert.False(without.Plane(0).Span.SequenceEqual(quantized.Weight.Plane(0).Span), "the importance changed nothing, so this test cannot tell whether it arrived");

        File.WriteAllBytes(path, File.ReadAllBytes(path)[..40]);
        Assert.Throws<QuantFormatException>(() => ImatrixFile.Load(path));
    }

    [Theory]
    [InlineData(GateUpLayout.Interleaved, 1)]
    [InlineData(GateUpLayout.Interleaved, 2)]
    [InlineData(GateUpLayout.Concatenated, 1)]
    [InlineData(GateUpLayout.Concatenated, 2)]
    public void FusedExperts_StackedAndPerExpertCheckpoints_MatchAFloat64Moe(GateUpLayout layout, int world)
    {
        var rng = new SplitMix64(704);
        int e = 4, h = 32, inter = 16, tokens = 3, topK = 2;
        var gateUp = TestTensors.Random(rng, DType.F32, e, h, 2 * inter);
        var gateUpBias = TestTensors.Random(rng, DType.F32, e, 2 * inter);
        var down = TestTensors.Random(rng, DType.F32, e, inter, h);
        var downBias = TestTensors.Random(rng, DType.F32, e, h);
        var stacked = new Dictionary<string, HostTensor>
        {
            ["mlp.experts.gate_up_proj"] = gateUp,
            ["mlp.experts.gate_up_proj_bias"] = gateUpBias,
            ["mlp.experts.down_proj"] = down,
            ["mlp.experts.down_proj_bias"] = downBias,
        };
        var x = TestTensors.Gaussian(rng, tokens * h);
        int[] ids = [0, 3, 2, 1, 3, 3];
        float[] weights = [0.7f, 0.3f, 0.5f, 0.5f, 0.9f, 0.1f];
        var activation = layout == GateUpLayout.Interleaved ? ExpertActivation.GptOss : ExpertActivation.SwiGlu;

        // float64: gate/up from the stored [E, H, 2I] in the layout's convention.
        var gu = gateUp.AsSpan<float>();
        var gub = gateUpBias.AsSpan<float>();
        var dw = down.AsSpan<float>();
        var db = downBias.AsSpan<float>();
        var expected = new double[tokens * h];
        for (int t = 0; t < tokens; t++)
            for (int s = 0; s < topK; s++)
            {
                int ex = ids[t * topK + s];
                var act = new double[inter];
                for (int j = 0; j < inter; j++)
                {
                    int gc = layout == GateUpLayout.Interleaved ? 2 * j : j, uc = layout == GateUpLayout.Interleaved ? 2 * j + 1 : inter + j;
                    double g = gub[ex * 2 * inter + gc], u = gub[ex * 2 * inter + uc];
                    for (int i = 0; i < h; i++)
                    {
                        g += (double)x[t * h + i] * gu[(ex * h + i) * 2 * inter + gc];
                        u += (double)x[t * h + i] * gu[(ex * h + i) * 2 * inter + uc];
                    }
                    act[j] = activation == ExpertActivation.SwiGlu ? g / (1 + Math.Exp(-g)) * u
                        : (Math.Clamp(u, -7, 7) + 1) * Math.Min(g, 7) / (1 + Math.Exp(-1.702 * Math.Min(g, 7)));
                }
                for (int o = 0; o < h; o++)
                {
                    double y = db[ex * h + o];
                    for (int j = 0; j < inter; j++) y += act[j] * dw[(ex * inter + j) * h + o];
                    expected[t * h + o] += weights[t * topK + s] * y;
                }
            }
        var results = Comm.Run(CommKind.InProcess, world, comm =>
            FusedExperts.Load(h, inter, e, null, layout, comm, ShardedVarBuilder.FromTensors(stacked).Pp("mlp"))
                .Forward(HostTensor.FromArray(x, tokens, h), HostTensor.FromArray(ids, tokens, topK), HostTensor.FromArray(weights, tokens, topK), activation).ToFloat32Array());
        foreach (var (rank, y) in results)
            for (int i = 0; i < y.Length; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= 2e-4 * (1 + Math.Abs(expected[i])), $"{layout}, world {world}, rank {rank}, output {i}: {y[i]} vs {expected[i]}");

        if (layout != GateUpLayout.Concatenated) return;
        // The same experts stored one by one (no biases): gate rows are gate_up's first I columns, transposed.
        var perExpert = new Dictionary<string, HostTensor>();
        for (int ex = 0; ex < e; ex++)
        {
            var one = gateUp.Index(ex);
            perExpert[$"mlp.experts.{ex}.gate_proj.weight"] = one.Narrow(1, 0, inter).Transpose(0, 1);
            perExpert[$"mlp.experts.{ex}.up_proj.weight"] = one.Narrow(1, inter, inter).Transpose(0, 1);
            perExpert[$"mlp.experts.{ex}.down_proj.weight"] = down.Index(ex).Transpose(0, 1);
        }
        var stackedNoBias = new Dictionary<string, HostTensor> { ["mlp.experts.gate_up_proj"] = gateUp, ["mlp.experts.down_proj"] = down };
        var a = Comm.Run(CommKind.InProcess, world, comm => FusedExperts.Load(h, inter, e, null, layout, comm, ShardedVarBuilder.FromTensors(perExpert).Pp("mlp"))
            .Forward(HostTensor.FromArray(x, tokens, h), HostTensor.FromArray(ids, tokens, topK), HostTensor.FromArray(weights, tokens, topK), activation).ToFloat32Array());
        var c = Comm.Run(CommKind.InProcess, world, comm => FusedExperts.Load(h, inter, e, null, layout, comm, ShardedVarBuilder.FromTensors(stackedNoBias).Pp("mlp"))
            .Forward(HostTensor.FromArray(x, tokens, h), HostTensor.FromArray(ids, tokens, topK), HostTensor.FromArray(weights, tokens, topK), activation).ToFloat32Array());
        for (int i = 0; i < a[0].Value.Length; i++) Assert.True(Math.Abs(a[0].Value[i] - c[0].Value[i]) <= 1e-5 * (1 + Math.Abs(c[0].Value[i])));
    }

    [Fact]
    public void PackedExperts_ShardGateUpOnDim2AndDownOnDim1_AndMatchOneRank()
    {
        var rng = new SplitMix64(705);
        int e = 3, h = 16, inter = 8, tokens = 2, topK = 2;
        var tensors = new Dictionary<string, HostTensor>
        {
            ["experts.gate_up_proj"] = TestTensors.Random(rng, DType.BF16, e, h, 2 * inter),
            ["experts.down_proj"] = TestTensors.Random(rng, DType.BF16, e, inter, h),
        };
        var x = HostTensor.FromArray(TestTensors.Gaussian(rng, tokens * h), tokens, h);
        var ids = HostTensor.FromArray(new[] { 0, 2, 1, 2 }, tokens, topK);
        var w = HostTensor.FromArray(new[] { 0.6f, 0.4f, 0.5f, 0.5f }, tokens, topK);
        float[] Run(int world) => Comm.Run(CommKind.InProcess, world, comm =>
            PackedExperts.Load(e, h, inter, comm, ShardedVarBuilder.FromTensors(tensors).Pp("experts")).Forward(x, ids, w, ExpertActivation.SwiGlu).ToFloat32Array())[0].Value;
        var one = Run(1);
        foreach (int world in new[] { 2, 4, 8 })
        {
            var sharded = Run(world);
            for (int i = 0; i < one.Length; i++) Assert.True(Math.Abs(sharded[i] - one[i]) <= 1e-5 * (1 + Math.Abs(one[i])), $"world {world}, output {i}");
        }
    }

    [Fact]
    public void MergedAndMatformerLoaders_TakeTheRightRows()
    {
        var rng = new SplitMix64(706);
        var weight = TestTensors.Random(rng, DType.F32, 8, 6);
        var vb = ShardedVarBuilder.FromTensors(new Dictionary<string, HostTensor> { ["w.weight"] = weight }).Pp("w");
        var merged = Comm.Run(CommKind.InProcess, 2, comm => ColumnParallelLinear.LoadMerged(6, 8, 2, null, false, comm, vb).Select(l => l.DequantizeWeight().ToFloat32Array()).ToArray());
        // chunk c of rank r holds rows [(c * 2 + r) * 2, +2).
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 2; c++)
                Assert.Equal(weight.Narrow(0, (c * 2 + r) * 2, 2).ToFloat32Array(), merged[r].Value[c]);
        var matformer = Comm.Run(CommKind.InProcess, 2, comm => ColumnParallelLinear.LoadMatformer(6, 4, 8, false, comm, vb).DequantizeWeight().ToFloat32Array());
        Assert.Equal(weight.Narrow(0, 2, 2).ToFloat32Array(), matformer[1].Value);
        var rowMatformer = Comm.Run(CommKind.InProcess, 2, comm => RowParallelLinear.LoadMatformer(4, 8, 6, false, comm, vb).DequantizeWeight().ToFloat32Array());
        Assert.Equal(weight.Narrow(1, 2, 2).ToFloat32Array(), rowMatformer[1].Value);
    }
}
