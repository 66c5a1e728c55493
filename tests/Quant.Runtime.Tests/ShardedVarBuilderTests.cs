using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Loading;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;

namespace Quant.Runtime.Tests;

public sealed class ShardedVarBuilderTests : IDisposable
{
    private readonly TestTensors.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The expected shard, cut element by element (independent of the builder's run arithmetic).</summary>
    private static float[] Cut(float[] values, int[] shape, int dim, int start, int length)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { strides[i] = s; s *= shape[i]; }
        var result = new List<float>();
        var index = new int[shape.Length];
        for (long e = 0; e < values.Length; e++)
        {
            long rem = e;
            for (int i = 0; i < shape.Length; i++) { index[i] = (int)(rem / strides[i]); rem %= strides[i]; }
            if (index[dim] >= start && index[dim] < start + length) result.Add(values[e]);
        }
        return result.ToArray();
    }

    [Fact]
    public void Get_ReadsExactlyTheShard_OfEveryDimension_SimpleAndOffset()
    {
        var rng = new SplitMix64(401);
        int[] shape = [4, 6, 8];
        var values = TestTensors.Gaussian(rng, 4 * 6 * 8);
        string path = _dir.File("model.safetensors");
        SafetensorsWriter.WriteFile(path, new Dictionary<string, HostTensor> { ["layer.w"] = HostTensor.FromArray(values, shape) });
        var vb = ShardedVarBuilder.FromFiles([path]);
        try
        {
            var layer = vb.Pp("layer");
            Assert.True(layer.Contains("w"));
            Assert.False(layer.Contains("w2"));
            Assert.False(vb.Contains("w"));
            for (int dim = 0; dim < 3; dim++)
            {
                foreach (int world in new[] { 1, 2 })
                {
                    for (int rank = 0; rank < world; rank++)
                    {
                        var got = layer.Get(shape, "w", Shard.Simple(dim, rank, world));
                        int size = shape[dim] / world;
                        Assert.Equal(Cut(values, shape, dim, rank * size, size), got.AsSpan<float>().ToArray());
                        Assert.Equal(size, got.Dim(dim));
                    }
                }
                var offset = layer.Get(shape, "w", Shard.Offset(dim, 1, 2));
                Assert.Equal(Cut(values, shape, dim, 1, 2), offset.AsSpan<float>().ToArray());
            }
            var e = Assert.Throws<QuantFormatException>(() => layer.Get(shape, "w", Shard.Simple(1, 0, 4)));
            Assert.Contains("do not split evenly over 4 ranks", e.Message);
            e = Assert.Throws<QuantFormatException>(() => layer.Get([4, 6, 9], "w"));
            Assert.Contains("'layer.w' has shape [4, 6, 8]; the layer expects [4, 6, 9]", e.Message);
            e = Assert.Throws<QuantFormatException>(() => layer.Get(shape, "w", Shard.Offset(2, 7, 2)));
            Assert.Contains("runs past dimension 2", e.Message);
            Assert.Throws<QuantFormatException>(() => layer.Get(shape, "missing"));
        }
        finally
        {
            vb.Dispose();
        }
    }

    [Fact]
    public void Get_ConvertsFloatsOnRequest_AndKeepsIntegersAndFp8AsStored()
    {
        var rng = new SplitMix64(402);
        var tensors = new Dictionary<string, HostTensor>
        {
            ["bf"] = TestTensors.Random(rng, DType.BF16, 3, 4),
            ["u8"] = TestTensors.Random(rng, DType.U8, 3, 4),
            ["fp8"] = TestTensors.Random(rng, DType.F8E4M3, 3, 4),
        };
        var vb = ShardedVarBuilder.FromTensors(tensors);
        var f = vb.Get([3, 4], "bf", default, DType.F32);
        Assert.Equal(DType.F32, f.DType);
        Assert.Equal(tensors["bf"].ToFloat32Array(), f.AsSpan<float>().ToArray());
        Assert.Equal(DType.U8, vb.Get([3, 4], "u8", default, DType.F32).DType);
        Assert.Equal(DType.F8E4M3, vb.Get([3, 4], "fp8", default, DType.BF16).DType);
    }

    [Fact]
    public void FromDirectory_FollowsTheIndex_AndRefusesATensorInTwoFiles()
    {
        var rng = new SplitMix64(403);
        SafetensorsWriter.WriteFile(_dir.File("model-00001-of-00002.safetensors"), new Dictionary<string, HostTensor> { ["a"] = TestTensors.Random(rng, DType.F32, 2) });
        SafetensorsWriter.WriteFile(_dir.File("model-00002-of-00002.safetensors"), new Dictionary<string, HostTensor> { ["b"] = TestTensors.Random(rng, DType.F32, 3) });
        SafetensorsWriter.WriteFile(_dir.File("stray.safetensors"), new Dictionary<string, HostTensor> { ["a"] = TestTensors.Random(rng, DType.F32, 2) });
        File.WriteAllText(_dir.File("model.safetensors.index.json"), JsonSerializer.Serialize(new
        {
            metadata = new { total_size = 20 },
            weight_map = new Dictionary<string, string> { ["a"] = "model-00001-of-00002.safetensors", ["b"] = "model-00002-of-00002.safetensors" },
        }));
        var vb = ShardedVarBuilder.FromDirectory(_dir.Path);
        Assert.Equal(["a", "b"], vb.Names.OrderBy(n => n));
        vb.Dispose();
        File.Delete(_dir.File("model.safetensors.index.json"));
        var e = Assert.Throws<QuantFormatException>(() => ShardedVarBuilder.FromDirectory(_dir.Path));
        Assert.Contains("Tensor 'a' is in both", e.Message);
    }
}
