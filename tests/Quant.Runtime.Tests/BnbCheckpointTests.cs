using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Checkpoints;
using Quant.Runtime.Layers;
using Quant.Runtime.Loading;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests;

public sealed class BnbCheckpointTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("nf4", false)]
    [InlineData("nf4", true)]
    [InlineData("fp4", false)]
    [InlineData("fp4", true)]
    public void WriteThenRead_KeepsTheCodes_AndTheAbsmaxExactlyOrWithinTheNestedMapsResolution(string format, bool doubleQuant)
    {
        var rng = new SplitMix64(801);
        int n = 96, k = 384; // 576 blocks: three nested blocks of 256, the last one short
        var weights = TestTensors.Gaussian(rng, n * k, 0.05);
        var matrix = FormatKernels.For(format).Quantize(weights, n, k);
        var tensors = BnbWeight.Write(matrix, doubleQuant);
        Assert.Equal(doubleQuant ? DType.U8 : DType.F32, tensors["weight.absmax"].DType);
        var back = BnbWeight.Read(ShardedVarBuilder.FromTensors(tensors), n, k);
        Assert.True(matrix.Plane(0).Span.SequenceEqual(back.Plane(0).Span), "the 4-bit codes changed");
        var before = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(matrix.Plane(1).Span);
        var after = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(back.Plane(1).Span);
        if (!doubleQuant)
        {
            Assert.True(before.SequenceEqual(after));
            return;
        }
        // The nested map's spacing near 1 is 0.9 / 64 / 2 of the nested absmax; values below 0.1 fall in finer decades.
        double worst = 0, mean = before.ToArray().Average(v => (double)v);
        for (int i = 0; i < before.Length; i++) worst = Math.Max(worst, Math.Abs(after[i] - before[i]));
        double range = 0;
        foreach (float v in before) range = Math.Max(range, Math.Abs(v - mean));
        output.WriteLine($"{format}: absmax mean {mean:G4}, largest |absmax - mean| {range:G4}, double quantization error at most {worst:G3} ({worst / range:P2} of the range)");
        Assert.True(worst <= range * 0.9 / 64 / 2 * 1.0001 + 1e-7, $"absmax error {worst} exceeds half the top decade's step");
    }

    [Fact]
    public void Read_ExpandsANestedAbsmax_AsBitsandbytesDoes_AndRunsAsALayer()
    {
        var rng = new SplitMix64(802);
        int n = 4, k = 128, blocks = 8;
        var map = BnbWeight.DynamicMap();
        Assert.Equal(256, map.Length);
        // The top decade's midpoints of linspace(0.1, 1, 65) end at (0.9859375 + 1) / 2; only +1 itself is added.
        Assert.Equal(-0.99296875, map[0], 6);
        Assert.Equal(1f, map[255]);
        Assert.Contains(0f, map);
        var codes = new byte[blocks];
        for (int i = 0; i < blocks; i++) codes[i] = (byte)(128 + rng.NextInt(127));
        float nested = 0.0371f, offset = 0.0123f;
        var packed = new byte[n * k / 2];
        rng.NextBytes(packed);
        var state = Encoding.UTF8.GetBytes("""{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4, 128], "nested_blocksize": 256, "nested_offset": 0.0123, "nested_dtype": "float32"}""");
        var nf4 = new[] { -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f };
        var tensors = new Dictionary<string, HostTensor>
        {
            ["l.weight"] = HostTensor.FromArray(packed, packed.Length, 1),
            ["l.weight.absmax"] = HostTensor.FromArray(codes, blocks),
            ["l.weight.quant_map"] = HostTensor.FromArray(nf4, 16),
            ["l.weight.nested_absmax"] = HostTensor.FromArray(new[] { nested }, 1),
            ["l.weight.nested_quant_map"] = HostTensor.FromArray(map, 256),
            ["l.weight.quant_state.bitsandbytes__nf4"] = HostTensor.FromArray(state, state.Length),
        };
        var layer = Linears.Load(k, n, new QuantizedConfig.Bitsandbytes(), false, Shard.None, ShardedVarBuilder.FromTensors(tensors).Pp("l"));
        var w = layer.DequantizeWeight().AsSpan<float>();
        for (int e = 0; e < n * k; e++)
        {
            int block = e / 64;
            float absmax = map[codes[block]] * nested + offset;
            int code = (packed[e / 2] >> (e % 2 == 0 ? 4 : 0)) & 15;
            Assert.Equal(nf4[code] * absmax, w[e]);
        }
        var x = TestTensors.Gaussian(rng, k);
        var (expected, abs) = Reference.Linear(w.ToArray(), n, k, x, default);
        Reference.AssertClose(expected, abs, layer.Forward(HostTensor.FromArray(x, 1, k)).AsSpan<float>(), "bnb nf4 layer");

        tensors["l.weight.quant_map"] = HostTensor.FromArray(nf4.Select(v => v * 2).ToArray(), 16);
        var e2 = Assert.Throws<QuantFormatException>(() => Linears.Load(k, n, new QuantizedConfig.Bitsandbytes(), false, Shard.None, ShardedVarBuilder.FromTensors(tensors).Pp("l")));
        Assert.Contains("l.weight.quant_map", e2.Message);
    }
}
