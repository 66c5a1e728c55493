using System;
using System.Collections.Generic;
using Quant.Kernels;
using Quant.Runtime.Distributed;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Models;

/// <summary>The shape of a <see cref="MoeTransformerBlock"/>.</summary>
/// <param name="Hidden">H, the model width.</param>
/// <param name="Heads">Query heads.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention).</param>
/// <param name="HeadDim">Width of one head.</param>
/// <param name="Experts">E, the experts.</param>
/// <param name="TopK">Experts per token.</param>
/// <param name="Intermediate">I, each expert's intermediate width.</param>
/// <param name="RmsEps">RMSNorm's epsilon.</param>
/// <param name="RopeTheta">RoPE's base.</param>
public sealed record MoeBlockConfig(int Hidden, int Heads, int KvHeads, int HeadDim, int Experts, int TopK, int Intermediate, float RmsEps = 1e-5f, float RopeTheta = 10000f);

/// <summary>
/// One GPT-OSS-style transformer block, built from the runtime's tensor-parallel layers: RMSNorm, grouped-query
/// attention (q/k/v column-parallel with KV heads replicated when the world outgrows them, o row-parallel, RoPE,
/// causal softmax), RMSNorm, a replicated router choosing the top-k experts, and MXFP4 experts in the GPT-OSS layout
/// (gate and up interleaved, the GPT-OSS activation, down reduced across ranks). Checkpoint names follow GPT-OSS
/// (<c>self_attn.q_proj.weight</c>, <c>mlp.router.weight</c>, <c>mlp.experts.gate_up_proj_blocks</c>, ...). Small and
/// unoptimised: it exists to run the layers together, in <c>quant demo --tp</c> and the tests.
/// </summary>
public sealed class MoeTransformerBlock
{
    private readonly MoeBlockConfig _config;
    private readonly IComm _comm;
    private readonly float[] _inputNorm;
    private readonly float[] _postNorm;
    private readonly int _localHeads;
    private readonly int _kvGroups;

    private MoeTransformerBlock(MoeBlockConfig config, IComm comm, float[] inputNorm, float[] postNorm, IQuantMethod q, IQuantMethod k, IQuantMethod v, IQuantMethod o, IQuantMethod router, ExpertLayers experts)
    {
        _config = config;
        _comm = comm;
        _inputNorm = inputNorm;
        _postNorm = postNorm;
        QProj = q;
        KProj = k;
        VProj = v;
        OProj = o;
        Router = router;
        Experts = experts;
        _localHeads = config.Heads / comm.WorldSize;
        _kvGroups = KvSharding.ComputeNKvGroups(config.KvHeads, config.Heads, comm);
    }

    /// <summary>The query projection (this rank's heads).</summary>
    public IQuantMethod QProj { get; }

    /// <summary>The key projection (this rank's KV heads).</summary>
    public IQuantMethod KProj { get; }

    /// <summary>The value projection.</summary>
    public IQuantMethod VProj { get; }

    /// <summary>The output projection (row-parallel).</summary>
    public IQuantMethod OProj { get; }

    /// <summary>The router (replicated).</summary>
    public IQuantMethod Router { get; }

    /// <summary>The experts.</summary>
    public ExpertLayers Experts { get; }

    /// <summary>Loads the block for this rank of <paramref name="comm"/>.</summary>
    /// <exception cref="QuantFormatException">The head counts or sizes do not split over the ranks, or a tensor is missing.</exception>
    public static MoeTransformerBlock Load(MoeBlockConfig config, IComm comm, ShardedVarBuilder vb)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(comm);
        ArgumentNullException.ThrowIfNull(vb);
        int world = comm.WorldSize;
        if (config.Heads % world != 0) throw new QuantFormatException($"{config.Heads} attention heads do not split over {world} ranks.");
        if (config.KvHeads % world != 0 && world % config.KvHeads != 0)
            throw new QuantFormatException($"{config.KvHeads} KV heads neither split over nor replicate evenly across {world} ranks.");
        int h = config.Hidden, hd = config.HeadDim;
        var attn = vb.Pp("self_attn");
        var kvShard = KvSharding.ComputeKvShard(config.KvHeads, hd, comm);
        var q = ColumnParallelLinear.Load(h, config.Heads * hd, null, true, comm, attn.Pp("q_proj"));
        var k = ColumnParallelLinear.LoadWithShard(h, config.KvHeads * hd, null, true, kvShard, attn.Pp("k_proj"));
        var v = ColumnParallelLinear.LoadWithShard(h, config.KvHeads * hd, null, true, kvShard, attn.Pp("v_proj"));
        var o = RowParallelLinear.Load(config.Heads * hd, h, null, true, comm, attn.Pp("o_proj"));
        var router = ReplicatedLinear.Load(h, config.Experts, null, true, vb.Pp("mlp").Pp("router"));
        var experts = FusedExperts.Load(h, config.Intermediate, config.Experts, new QuantizedConfig.Mxfp4(), GateUpLayout.Interleaved, comm, vb.Pp("mlp"));
        return new MoeTransformerBlock(config, comm,
            vb.Get([h], "input_layernorm.weight", default, DType.F32).ToFloat32Array(),
            vb.Get([h], "post_attention_layernorm.weight", default, DType.F32).ToFloat32Array(),
            q, k, v, o, router, experts);
    }

    /// <summary>
    /// Runs the block over a sequence <paramref name="x"/> <c>[T, H]</c> (F32; positions 0 to T - 1, causal) and returns
    /// <c>[T, H]</c>, the same on every rank. Every rank of the group must call it with the same input.
    /// </summary>
    public HostTensor Forward(HostTensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        int t = x.Dim(0), h = _config.Hidden, hd = _config.HeadDim;
        var input = x.ToFloat32Array();
        var normed = RmsNorm(input, _inputNorm, h, _config.RmsEps);
        var xn = HostTensor.FromArray(normed, t, h);
        var q = QProj.Forward(xn).ToFloat32Array();
        var k = KProj.Forward(xn).ToFloat32Array();
        var v = VProj.Forward(xn).ToFloat32Array();
        int localKv = k.Length / t / hd;
        Rope(q, t, _localHeads, hd, _config.RopeTheta);
        Rope(k, t, localKv, hd, _config.RopeTheta);
        var attention = new float[t * _localHeads * hd];
        var scores = new float[t];
        float scale = 1f / MathF.Sqrt(hd);
        for (int head = 0; head < _localHeads; head++)
        {
            int kvHead = Math.Min(head / _kvGroups, localKv - 1);
            for (int i = 0; i < t; i++)
            {
                var qi = q.AsSpan((i * _localHeads + head) * hd, hd);
                float max = float.NegativeInfinity;
                for (int j = 0; j <= i; j++)
                {
                    scores[j] = DenseMath.Dot(qi, k.AsSpan((j * localKv + kvHead) * hd, hd)) * scale;
                    max = MathF.Max(max, scores[j]);
                }
                float sum = 0f;
                for (int j = 0; j <= i; j++) sum += scores[j] = MathF.Exp(scores[j] - max);
                var output = attention.AsSpan((i * _localHeads + head) * hd, hd);
                for (int j = 0; j <= i; j++)
                {
                    float p = scores[j] / sum;
                    var vj = v.AsSpan((j * localKv + kvHead) * hd, hd);
                    for (int d = 0; d < hd; d++) output[d] += p * vj[d];
                }
            }
        }
        var attnOut = OProj.Forward(HostTensor.FromArray(attention, t, _localHeads * hd)).AsSpan<float>();
        var residual = new float[t * h];
        for (int i = 0; i < residual.Length; i++) residual[i] = input[i] + attnOut[i];

        var mlpIn = HostTensor.FromArray(RmsNorm(residual, _postNorm, h, _config.RmsEps), t, h);
        var logits = Router.Forward(mlpIn).AsSpan<float>();
        var (ids, weights) = TopKSoftmax(logits, t, _config.Experts, _config.TopK);
        var moe = Experts.Forward(mlpIn, HostTensor.FromArray(ids, t, _config.TopK), HostTensor.FromArray(weights, t, _config.TopK), ExpertActivation.GptOss).AsSpan<float>();
        for (int i = 0; i < residual.Length; i++) residual[i] += moe[i];
        return HostTensor.FromArray(residual, t, h);
    }

    /// <summary>
    /// A random checkpoint of the block in GPT-OSS's names and dtypes: BF16 attention and router weights with biases,
    /// F32 norms, MXFP4 experts (quantized from Gaussian weights with the <c>mxfp4</c> format) with BF16 biases.
    /// </summary>
    public static Dictionary<string, HostTensor> Synthesize(MoeBlockConfig config, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rng = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        int h = config.Hidden, hd = config.HeadDim, e = config.Experts, inter = config.Intermediate;
        if (h % 32 != 0 || inter % 32 != 0) throw new ArgumentException("MXFP4 experts need H and I that are multiples of 32.", nameof(config));
        var tensors = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        HostTensor Gaussian(double std, DType dtype, params int[] shape)
        {
            var values = new float[HostTensor.ElementCountOf(shape)];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(std * Normal(rng));
            return HostTensor.FromArray(values, shape).ToDType(dtype);
        }
        var norm = new float[h];
        for (int i = 0; i < h; i++) norm[i] = 1f + 0.1f * (float)Normal(rng);
        tensors["input_layernorm.weight"] = HostTensor.FromArray(norm, h);
        var post = new float[h];
        for (int i = 0; i < h; i++) post[i] = 1f + 0.1f * (float)Normal(rng);
        tensors["post_attention_layernorm.weight"] = HostTensor.FromArray(post, h);
        double inStd = 1 / Math.Sqrt(h);
        foreach (var (name, rows) in new[] { ("q_proj", config.Heads * hd), ("k_proj", config.KvHeads * hd), ("v_proj", config.KvHeads * hd) })
        {
            tensors[$"self_attn.{name}.weight"] = Gaussian(inStd, DType.BF16, rows, h);
            tensors[$"self_attn.{name}.bias"] = Gaussian(0.02, DType.BF16, rows);
        }
        tensors["self_attn.o_proj.weight"] = Gaussian(1 / Math.Sqrt(config.Heads * hd), DType.BF16, h, config.Heads * hd);
        tensors["self_attn.o_proj.bias"] = Gaussian(0.02, DType.BF16, h);
        tensors["mlp.router.weight"] = Gaussian(inStd, DType.BF16, e, h);
        tensors["mlp.router.bias"] = Gaussian(0.02, DType.BF16, e);
        var mxfp4 = FormatKernels.For("mxfp4");
        void Experts(string name, int rows, int columns, double std)
        {
            var blocks = HostTensor.Zeros(DType.U8, e, rows, columns / 32, 16);
            var scales = HostTensor.Zeros(DType.U8, e, rows, columns / 32);
            for (int x = 0; x < e; x++)
            {
                var weights = Gaussian(std, DType.F32, rows, columns).AsSpan<float>();
                var matrix = mxfp4.Quantize(weights, rows, columns);
                matrix.Plane(0).Span.CopyTo(blocks.AsWritableSpan<byte>().Slice(x * rows * columns / 2));
                matrix.Plane(1).Span.CopyTo(scales.AsWritableSpan<byte>().Slice(x * rows * columns / 32));
            }
            tensors[$"mlp.experts.{name}_blocks"] = blocks;
            tensors[$"mlp.experts.{name}_scales"] = scales;
            tensors[$"mlp.experts.{name}_bias"] = Gaussian(0.02, DType.BF16, e, rows);
        }
        Experts("gate_up_proj", 2 * inter, h, inStd);
        Experts("down_proj", h, inter, 1 / Math.Sqrt(inter));
        return tensors;
    }

    private static double Normal(Random rng)
    {
        double u = 1 - rng.NextDouble(), w = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * w);
    }

    private static float[] RmsNorm(float[] x, float[] weight, int h, float eps)
    {
        var result = new float[x.Length];
        for (int r = 0; r < x.Length / h; r++)
        {
            var row = x.AsSpan(r * h, h);
            float mean = DenseMath.Dot(row, row) / h;
            float inverse = 1f / MathF.Sqrt(mean + eps);
            for (int i = 0; i < h; i++) result[r * h + i] = row[i] * inverse * weight[i];
        }
        return result;
    }

    // Rotary embedding in the "rotate half" layout: pairs (i, i + d/2) of each head turn by position * theta^(-2i/d).
    private static void Rope(float[] values, int tokens, int heads, int hd, float theta)
    {
        int half = hd / 2;
        for (int p = 0; p < tokens; p++)
        {
            for (int head = 0; head < heads; head++)
            {
                var v = values.AsSpan((p * heads + head) * hd, hd);
                for (int i = 0; i < half; i++)
                {
                    double angle = p * Math.Pow(theta, -2.0 * i / hd);
                    float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                    float a = v[i], b = v[i + half];
                    v[i] = a * c - b * s;
                    v[i + half] = a * s + b * c;
                }
            }
        }
    }

    // GPT-OSS routing: the top-k logits (ties to the lower expert), then a softmax over those k.
    private static (int[] Ids, float[] Weights) TopKSoftmax(ReadOnlySpan<float> logits, int tokens, int experts, int k)
    {
        var ids = new int[tokens * k];
        var weights = new float[tokens * k];
        for (int t = 0; t < tokens; t++)
        {
            var row = logits.Slice(t * experts, experts);
            var taken = new bool[experts];
            for (int s = 0; s < k; s++)
            {
                int best = -1;
                for (int x = 0; x < experts; x++) if (!taken[x] && (best < 0 || row[x] > row[best])) best = x;
                taken[best] = true;
                ids[t * k + s] = best;
            }
            float max = row[ids[t * k]], sum = 0f;
            for (int s = 0; s < k; s++) sum += weights[t * k + s] = MathF.Exp(row[ids[t * k + s]] - max);
            for (int s = 0; s < k; s++) weights[t * k + s] /= sum;
        }
        return (ids, weights);
    }
}
