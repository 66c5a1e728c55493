using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Quant.Uqff;

namespace Quant.Runtime.Tests;

public sealed class LayerTests
{
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Unquant_Forward_MatchesFloat64_ForEveryWeightDType_WithAndWithoutBias(DType dtype)
    {
        var rng = new SplitMix64(501);
        foreach (var (n, k, batch) in new[] { (7, 33, 1), (65, 96, 3), (130, 64, 5) })
        {
            var weight = TestTensors.Random(rng, dtype, n, k);
            var w = weight.ToFloat32Array();
            var x = TestTensors.Gaussian(rng, batch * k);
            foreach (bool withBias in new[] { false, true })
            {
                var bias = withBias ? HostTensor.FromArray(TestTensors.Gaussian(rng, n), n) : null;
                var layer = new UnquantLinear(weight, bias);
                var y = layer.Forward(HostTensor.FromArray(x, batch, k));
                Assert.Equal(new[] { batch, n }, y.Shape);
                var (expected, abs) = Reference.Linear(w, n, k, x, bias is null ? default : bias.AsSpan<float>());
                Reference.AssertClose(expected, abs, y.AsSpan<float>(), $"seed 501 {dtype} {n}x{k} batch {batch} bias {withBias}");
            }
        }
    }

    [Fact]
    public void Forward_KeepsLeadingDimensions_AndTakesF16Activations()
    {
        var rng = new SplitMix64(502);
        var layer = new UnquantLinear(TestTensors.Random(rng, DType.F32, 5, 8));
        var x = TestTensors.Random(rng, DType.F16, 2, 3, 8);
        var y = layer.Forward(x);
        Assert.Equal(new[] { 2, 3, 5 }, y.Shape);
        var expected = layer.Forward(HostTensor.FromArray(x.ToFloat32Array(), 6, 8));
        Assert.Equal(expected.AsSpan<float>().ToArray(), y.AsSpan<float>().ToArray());
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(TestTensors.Random(rng, DType.F32, 2, 7)));
        Assert.Contains("[..., 8]", e.Message);
    }

    public static TheoryData<string> IsqFormats() => new() { "q4_0", "q8_0", "q4_K", "q6_K", "mxfp4", "nf4", "afq4_g64", "hqq4_g64", "fp8_e4m3", "nvfp4", "iq4_nl" };

    [Theory, MemberData(nameof(IsqFormats))]
    public void ApplyIsq_EqualsQuantizingByHand_AndForwardMatchesTheKernels(string format)
    {
        var rng = new SplitMix64(503);
        int n = 24, k = 512;
        var weight = TestTensors.Random(rng, DType.F32, n, k);
        var bias = HostTensor.FromArray(TestTensors.Gaussian(rng, n), n);
        var layer = (QuantLinear)new UnquantLinear(weight, bias).ApplyIsq(new IsqRequest(format));
        var kernels = FormatKernels.For(format);
        var byHand = kernels.Quantize(weight.AsSpan<float>(), n, k);
        for (int p = 0; p < byHand.Format.Planes.Count; p++)
            Assert.True(byHand.Plane(p).Span.SequenceEqual(layer.Weight.Plane(p).Span), $"{format}: plane {p} differs from quantizing by hand");
        var x = TestTensors.Gaussian(rng, 3 * k);
        var y = layer.Forward(HostTensor.FromArray(x, 3, k));
        var expected = new float[3 * n];
        kernels.MatMul(byHand, x, expected, bias.AsSpan<float>());
        Assert.Equal(expected, y.AsSpan<float>().ToArray());
        // The dequantized weight is the float weight the products use.
        var dequantized = layer.DequantizeWeight();
        var (reference, abs) = Reference.Linear(dequantized.AsSpan<float>(), n, k, x, bias.AsSpan<float>());
        Reference.AssertClose(reference, abs, y.AsSpan<float>(), $"{format} forward vs its dequantized weight");
    }

    [Fact]
    public void ApplyIsq_OnExperts_QuantizesEachExpertOnItsOwn()
    {
        var rng = new SplitMix64(504);
        int e = 3, n = 8, k = 64;
        var weight = TestTensors.Random(rng, DType.F32, e, n, k);
        var layer = (QuantLinear)new UnquantLinear(weight).ApplyIsq(new IsqRequest("nvfp4"));
        Assert.Equal(e, layer.Experts);
        var kernels = FormatKernels.For("nvfp4");
        for (int i = 0; i < e; i++)
        {
            var own = kernels.Quantize(weight.Index(i).AsSpan<float>(), n, k);
            var dq = new float[n * k];
            kernels.Dequantize(own, dq);
            Assert.Equal(dq, layer.DequantizeWeight().Index(i).AsSpan<float>().ToArray());
        }
    }

    [Theory]
    [InlineData("unquant")]
    [InlineData("q4_K")]
    [InlineData("mxfp4")]
    [InlineData("afq4_g64")]
    [InlineData("hqq4_g64")]
    [InlineData("fp8_e4m3")]
    [InlineData("f8q8")]
    [InlineData("q8_0")]
    public void Serialize_ThenDeserialize_GivesTheSameOutputs_WithAndWithoutBias(string format)
    {
        var rng = new SplitMix64(505);
        int n = 16, k = 256;
        foreach (bool withBias in new[] { false, true })
        {
            var bias = withBias ? HostTensor.FromArray(TestTensors.Gaussian(rng, n), n) : null;
            IQuantMethod layer = new UnquantLinear(TestTensors.Random(rng, DType.BF16, n, k), bias);
            if (format != "unquant") layer = layer.ApplyIsq(new IsqRequest(format));
            Assert.True(layer.IsSerializable);
            var blob = layer.Serialize();
            var back = QuantMethods.Deserialize(blob);
            Assert.Equal(layer.HasBias, back.HasBias);
            Assert.Equal(format == "mxfp4" ? "mxfp4-layer" : layer.Name, back.Name);
            var x = HostTensor.FromArray(TestTensors.Gaussian(rng, 2 * k), 2, k);
            Assert.Equal(layer.Forward(x).AsSpan<float>().ToArray(), back.Forward(x).AsSpan<float>().ToArray());
            var (withoutBias, separate) = QuantMethods.DeserializeExtBias(blob);
            Assert.False(withoutBias.HasBias);
            Assert.Equal(withBias, separate is not null);
        }
    }

    [Fact]
    public void Deserialize_ReadsBlobsOfEveryLayerTypeTheSpineWrites()
    {
        var rng = new SplitMix64(506);
        int n = 8, k = 128;
        var w = TestTensors.Gaussian(rng, n * k);
        var bias = TestTensors.Gaussian(rng, n);
        QuantCatalog.EnsureRegistered();
        var blobs = new List<(string, byte[])>
        {
            ("unquant f16", UqffCodec.WriteUnquant(w, n, k, UqffDType.F16, bias)),
            ("unquant f32", UqffCodec.WriteUnquant(w, n, k, UqffDType.F32)),
        };
        foreach (var entry in QuantFormatRegistry.All.Where(e => e.Info.Uqff != UqffLayer.None && e.Info.BlockSize <= k && k % e.Info.BlockSize == 0 && e.Info.TileRows == 1))
        {
            var matrix = FormatKernels.For(entry).Quantize(w, n, k);
            blobs.Add((entry.Info.Name, UqffCodec.WriteLayer(matrix, bias)));
        }
        Assert.True(blobs.Count > 40, $"only {blobs.Count} layer types were written");
        var x = HostTensor.FromArray(TestTensors.Gaussian(rng, k), 1, k);
        foreach (var (name, blob) in blobs)
        {
            var layer = QuantMethods.Deserialize(blob);
            var y = layer.Forward(x);
            var (expected, abs) = Reference.Linear(layer.DequantizeWeight().AsSpan<float>(), n, k, x.AsSpan<float>(), layer.HasBias ? bias : default);
            Reference.AssertClose(expected, abs, y.AsSpan<float>(), name);
        }
    }

    [Fact]
    public void Mxfp4Layer_GptOssExperts_GatherMatchesFloat64OfTheCheckpointBytes()
    {
        var rng = new SplitMix64(507);
        int e = 4, outDim = 6, inDim = 64, tokens = 5, slots = 2;
        var blocks = TestTensors.Random(rng, DType.U8, e, outDim, inDim / 32, 16);
        var scales = HostTensor.Zeros(DType.U8, e, outDim, inDim / 32);
        var s = scales.AsWritableSpan<byte>();
        for (int i = 0; i < s.Length; i++) s[i] = (byte)(120 + rng.NextInt(12));
        var bias = TestTensors.Random(rng, DType.BF16, e, outDim);
        var vb = ShardedVarBuilder.FromTensors(new Dictionary<string, HostTensor>
        {
            ["experts.gate_up_proj_blocks"] = blocks,
            ["experts.gate_up_proj_scales"] = scales,
            ["experts.gate_up_proj_bias"] = bias,
        });
        var layer = Mxfp4Layer.PackedGptOssLinear(e, inDim, outDim, true, "gate_up_proj", vb.Pp("experts"));
        Assert.Equal("mxfp4-layer", layer.Name);
        Assert.Equal(e, layer.Experts);
        var x = TestTensors.Gaussian(rng, tokens * inDim);
        var ids = new int[tokens * slots];
        for (int i = 0; i < ids.Length; i++) ids[i] = rng.NextInt(e);
        var y = layer.GatherForward(HostTensor.FromArray(x, tokens, inDim), HostTensor.FromArray(ids, tokens, slots)).AsSpan<float>();
        var b = bias.ToFloat32Array();
        var blockBytes = blocks.AsSpan<byte>();
        for (int t = 0; t < tokens; t++)
        {
            for (int sl = 0; sl < slots; sl++)
            {
                int expert = ids[t * slots + sl];
                for (int r = 0; r < outDim; r++)
                {
                    var row = new float[inDim];
                    var rowBytes = blockBytes.Slice((expert * outDim + r) * inDim / 2, inDim / 2);
                    for (int i = 0; i < inDim; i++) row[i] = Mxfp4Reference.Decode(Mxfp4Reference.CheckpointCode(rowBytes, i), s[(expert * outDim + r) * (inDim / 32) + i / 32]);
                    var (dot, abs) = Float64.Dot(row, x.AsSpan(t * inDim, inDim));
                    double expected = dot + b[expert * outDim + r];
                    float got = y[(t * slots + sl) * outDim + r];
                    Assert.True(Math.Abs(got - expected) <= 1e-5 * (abs + Math.Abs(b[expert * outDim + r])), $"token {t} slot {sl} expert {expert} row {r}: {got} vs {expected}");
                }
            }
        }
        Assert.Throws<ArgumentException>(() => layer.Forward(HostTensor.FromArray(x, tokens, inDim)));
    }

    [Fact]
    public void Mxfp4Experts_RoundTripThroughA3DBlob_WithPerExpertBias()
    {
        var rng = new SplitMix64(511);
        int e = 3, n = 8, k = 64;
        var dense = new UnquantLinear(TestTensors.Random(rng, DType.F32, e, n, k), TestTensors.Random(rng, DType.F32, e, n));
        var experts = (QuantLinear)dense.ApplyIsq(new IsqRequest("mxfp4"));
        Assert.True(experts.IsSerializable);
        var blob = experts.Serialize();
        var parsed = UqffCodec.ReadLayer(blob);
        Assert.Equal(new[] { e, n, k / 2 }, parsed.Tensors[0].Dims);
        Assert.Equal(new[] { e, n, k / 32 }, parsed.Tensors[1].Dims);
        Assert.Equal(new[] { e, n }, parsed.Bias!.Dims);
        var back = QuantMethods.Deserialize(blob);
        Assert.Equal(e, back.Experts);
        var x = HostTensor.FromArray(TestTensors.Gaussian(rng, 4 * k), 4, k);
        var ids = HostTensor.FromArray(new[] { 0, 2, 1, 1, 2, 0, 2, 2 }, 4, 2);
        Assert.Equal(experts.GatherForward(x, ids).AsSpan<float>().ToArray(), back.GatherForward(x, ids).AsSpan<float>().ToArray());
        Assert.False(new UnquantLinear(TestTensors.Random(rng, DType.F32, e, n, k)).ApplyIsq(new IsqRequest("q4_0")).IsSerializable);
    }

    [Fact]
    public void AddDeltaW_Dense_IsExact_Quantized_RequantizesTheSum()
    {
        var rng = new SplitMix64(508);
        int n = 8, k = 64;
        var weight = TestTensors.Random(rng, DType.F32, n, k);
        var delta = TestTensors.Random(rng, DType.F32, n, k);
        var dense = (UnquantLinear)new UnquantLinear(weight).AddDeltaW(delta);
        var w = weight.AsSpan<float>();
        var d = delta.AsSpan<float>();
        var sum = dense.Weight.AsSpan<float>();
        for (int i = 0; i < sum.Length; i++) Assert.Equal(w[i] + d[i], sum[i]);

        var quantized = (QuantLinear)new UnquantLinear(weight).ApplyIsq(new IsqRequest("q8_0"));
        var updated = (QuantLinear)quantized.AddDeltaW(delta);
        var dq = quantized.DequantizeWeight().AsSpan<float>();
        var expected = new float[n * k];
        for (int i = 0; i < expected.Length; i++) expected[i] = dq[i] + d[i];
        var byHand = FormatKernels.For("q8_0").Quantize(expected, n, k);
        Assert.True(byHand.Plane(0).Span.SequenceEqual(updated.Weight.Plane(0).Span));
    }

    [Fact]
    public void TrackStats_GivesTheMeanSquarePerColumn_PerExpertForGathers()
    {
        var rng = new SplitMix64(509);
        var layer = new UnquantLinear(TestTensors.Random(rng, DType.F32, 4, 8));
        Assert.Throws<InvalidOperationException>(() => layer.EndTrackStats());
        layer.BeginTrackStats();
        var x1 = TestTensors.Gaussian(rng, 3 * 8);
        var x2 = TestTensors.Gaussian(rng, 2 * 8);
        layer.Forward(HostTensor.FromArray(x1, 3, 8));
        layer.Forward(HostTensor.FromArray(x2, 2, 8));
        var stats = layer.EndTrackStats().AsSpan<float>();
        var all = x1.Concat(x2).ToArray();
        for (int c = 0; c < 8; c++)
        {
            double expected = 0;
            for (int r = 0; r < 5; r++) expected += (double)all[r * 8 + c] * all[r * 8 + c];
            Assert.Equal(expected / 5, stats[c], 5);
        }

        var experts = new UnquantLinear(TestTensors.Random(rng, DType.F32, 3, 4, 8));
        experts.BeginTrackStats();
        var x = TestTensors.Gaussian(rng, 2 * 8);
        experts.GatherForward(HostTensor.FromArray(x, 2, 8), HostTensor.FromArray(new[] { 0, 2, 2, 2 }, 2, 2));
        var perExpert = experts.EndTrackStats();
        Assert.Equal(new[] { 3, 8 }, perExpert.Shape);
        Assert.Equal(0f, perExpert.Index(1).AsSpan<float>()[0]);
        // Expert 2 saw token 0 once and token 1 twice.
        double e2 = (x[0] * (double)x[0] + 2 * x[8] * (double)x[8]) / 3;
        Assert.Equal(e2, perExpert.Index(2).AsSpan<float>()[0], 5);
    }

    [Fact]
    public void DummyLayer_FailsEveryCall_NamingTheLayer()
    {
        var layer = new DummyLayer("model.layers.3.mlp.down_proj", 16, 8);
        var e = Assert.Throws<InvalidOperationException>(() => layer.Forward(HostTensor.Zeros(DType.F32, 1, 16)));
        Assert.Contains("model.layers.3.mlp.down_proj", e.Message);
        Assert.Throws<InvalidOperationException>(() => layer.Serialize());
        Assert.Throws<InvalidOperationException>(() => layer.DequantizeWeight());
    }

    [Fact]
    public void Serialize_AFormatWithoutAUqffType_SaysSo()
    {
        var rng = new SplitMix64(510);
        var layer = new UnquantLinear(TestTensors.Random(rng, DType.F32, 4, 64)).ApplyIsq(new IsqRequest("nf4"));
        Assert.False(layer.IsSerializable);
        var e = Assert.Throws<QuantFormatException>(() => layer.Serialize());
        Assert.Contains("'nf4' has no UQFF 0.2.0 layer type", e.Message);
    }
}
