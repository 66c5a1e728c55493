using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Runtime.Layers;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Quant.Runtime.Uqff;
using Quant.Uqff;

namespace Quant.Runtime.Tests.Conversion;

/// <summary>UQFF model files: blob lengths known up front, parts cut at a size limit, the layer-name mapping, the checked reader.</summary>
public sealed class UqffModelFileTests : IDisposable
{
    private readonly TestTensors.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void LayerLength_IsTheLengthOfTheBlob_ForEveryFormatWithAUqffLayer()
    {
        QuantCatalog.EnsureRegistered();
        var rng = new SplitMix64(17);
        int checkedFormats = 0;
        foreach (var entry in QuantFormatRegistry.All.Where(e => e.Info.Uqff != UqffLayer.None))
        {
            var kernels = FormatKernels.For(entry);
            int k = 256 % entry.Info.BlockSize == 0 ? 256 : entry.Info.BlockSize * 2;
            foreach (int rows in new[] { 1, 3, 7 })
            {
                var matrix = kernels.Quantize(TestTensors.Gaussian(rng, rows * k), rows, k);
                foreach (bool bias in new[] { false, true })
                {
                    var blob = UqffCodec.WriteLayer(matrix, bias ? TestTensors.Gaussian(rng, rows) : default);
                    Assert.True(UqffCodec.LayerLength(entry.Info, rows, k, bias) == blob.Length, $"{entry.Info.Name} {rows} x {k} bias {bias}: announced {UqffCodec.LayerLength(entry.Info, rows, k, bias)}, written {blob.Length}");
                }
            }
            checkedFormats++;
        }
        Assert.True(checkedFormats > 40, $"only {checkedFormats} formats have UQFF layers");
        // Mxfp4 layers of stacked experts: [E, N, K/2] blocks, [E, N, K/32] scales, an [E, N] bias.
        var mxfp4 = FormatKernels.For("mxfp4");
        foreach (bool bias in new[] { false, true })
        {
            var stacked = mxfp4.Quantize(TestTensors.Gaussian(rng, 3 * 5 * 64), 3 * 5, 64);
            var experts = new QuantMatrix(mxfp4.Info, 15, 64, [stacked.Plane(0), stacked.Plane(1)], experts: 3);
            var blob = UqffCodec.WriteLayer(experts, bias ? TestTensors.Gaussian(rng, 15) : default);
            Assert.Equal(UqffCodec.LayerLength(mxfp4.Info, 5, 64, bias, experts: 3), blob.Length);
        }
        Assert.Throws<QuantFormatException>(() => UqffCodec.LayerLength(FormatKernels.For("q4_0").Info, 5, 64, false, experts: 3));
        foreach (var dtype in new[] { UqffDType.F32, UqffDType.F16, UqffDType.BF16 })
        {
            foreach (bool bias in new[] { false, true })
            {
                var blob = UqffCodec.WriteUnquant(TestTensors.Gaussian(rng, 5 * 12), 5, 12, dtype, bias ? TestTensors.Gaussian(rng, 5) : default, UqffDType.F32);
                Assert.Equal(UqffCodec.UnquantLength(5, 12, dtype, bias, UqffDType.F32), blob.Length);
            }
        }
    }

    private sealed record Sample(List<UqffModelLayer> Layers, List<byte[]> Blobs, Dictionary<string, HostTensor> Residual);

    private static Sample MakeSample(SplitMix64 rng, int count)
    {
        var q8 = FormatKernels.For("q8_0");
        var layers = new List<UqffModelLayer>();
        var blobs = new List<byte[]>();
        for (int i = 0; i < count; i++)
        {
            int rows = 2 + i % 3;
            byte[] blob = i % 2 == 0
                ? UqffCodec.WriteLayer(q8.Quantize(TestTensors.Gaussian(rng, rows * 64), rows, 64), TestTensors.Gaussian(rng, rows))
                : UqffCodec.WriteUnquant(TestTensors.Gaussian(rng, rows * 32), rows, 32, UqffDType.BF16);
            blobs.Add(blob);
            layers.Add(new UqffModelLayer(i, i < 4 ? $"model.layers.{i}.self_attn.q_proj" : "model.layers.9.mlp.experts.gate_up_proj", i < 4 ? null : i - 4, blob.Length));
        }
        var residual = new Dictionary<string, HostTensor>
        {
            ["model.embed_tokens.weight"] = TestTensors.Random(rng, DType.BF16, 10, 8),
            ["model.norm.weight"] = TestTensors.Random(rng, DType.F32, 8),
        };
        return new Sample(layers, blobs, residual);
    }

    private string WriteModel(Sample sample, long limit, string name = "model.uqff", IReadOnlyList<(string, byte[])>? side = null)
    {
        string path = _dir.File(name);
        using var writer = new UqffModelWriter(path, sample.Layers, sample.Residual.Select(r => new SafetensorsTensorInfo(r.Key, r.Value.DType, r.Value.Dims())).ToArray(), limit, side);
        // Residual tensors interleaved with the layers, as the quantizer may write them.
        var residual = sample.Residual.ToArray();
        for (int i = 0; i < sample.Blobs.Count; i++)
        {
            if (i < residual.Length) writer.WriteResidual(residual[i].Key, residual[i].Value.Bytes);
            writer.WriteLayer(i, sample.Blobs[i]);
        }
        writer.Commit();
        return path;
    }

    [Fact]
    public void SplitAtASmallLimit_NoBlobSpansTwoParts_AndEveryLayerLoadsBack()
    {
        var sample = MakeSample(new SplitMix64(5), 9);
        long limit = sample.Blobs.Max(b => b.Length) * 2 + 10;
        string path = WriteModel(sample, limit, side: [("config.json", "{\"model_type\":\"llama\"}"u8.ToArray())]);
        var parts = UqffModelFormat.FindParts(path);
        Assert.True(parts.Count >= 3, $"{parts.Count} parts");
        Assert.Equal(Enumerable.Range(0, parts.Count), parts.Select(p => p.Number));

        using var model = UqffModel.Open(_dir.File("model-1.uqff"));
        Assert.Equal(parts.Count, model.Files.Count);
        Assert.Equal("{\"model_type\":\"llama\"}", model.ConfigJson);
        Assert.Equal(sample.Layers.Count, model.Layers.Count);
        for (int i = 0; i < sample.Layers.Count; i++)
        {
            Assert.Equal(sample.Layers[i], model.Layers[i]);
            Assert.True(sample.Blobs[i].AsSpan().SequenceEqual(model.Blob(i)), $"layer {i}");
            var layer = model.ReadLayer(i);
            Assert.Equal(sample.Blobs[i], layer.Serialize());
        }
        // Each part holds whole blobs within the limit (a part of one blob may exceed it only if that blob does).
        foreach (var (_, part) in parts)
        {
            using var file = SafetensorsFile.Open(part);
            long data = file.Entries.Sum(e => e.Length);
            Assert.True(data <= limit || file.Entries.Count == 1, $"{part}: {data} bytes of blobs > {limit}");
            foreach (var e in file.Entries)
            {
                int index = int.Parse(e.Name, System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(sample.Layers[index].Name, file.Metadata[UqffModelFormat.LayerKey(index)]);
            }
        }
        Assert.Equal("model.layers.9.mlp.experts.gate_up_proj", model.Layers[6].Name);
        Assert.Equal(2, model.Layers[6].Expert);
        Assert.Equal(6, model.IndexOf("model.layers.9.mlp.experts.gate_up_proj", 2));
        foreach (var (name, tensor) in sample.Residual) Assert.True(tensor.Bytes.SequenceEqual(model.Residual.Get(name).Bytes), name);
    }

    [Fact]
    public void ABlobLargerThanTheLimit_GetsAPartOfItsOwn()
    {
        var sample = MakeSample(new SplitMix64(6), 5);
        string path = WriteModel(sample, limit: 1);
        Assert.Equal(5, UqffModelFormat.FindParts(path).Count);
        using var model = UqffModel.Open(path);
        Assert.Equal(5, model.Layers.Count);
    }

    [Fact]
    public void AMissingOrForeignPart_OrAMissingResidualFile_IsRefused()
    {
        var sample = MakeSample(new SplitMix64(7), 6);
        long limit = sample.Blobs.Max(b => b.Length) + 1;
        string path = WriteModel(sample, limit);
        int parts = UqffModelFormat.FindParts(path).Count;
        Assert.True(parts >= 3);

        File.Move(_dir.File("model-1.uqff"), _dir.File("hidden.bin"));
        Assert.Contains("part is missing", Assert.Throws<QuantFormatException>(() => UqffModel.Open(path)).Message);
        File.Move(_dir.File("hidden.bin"), _dir.File("model-1.uqff"));

        // A part of another model of the same stem beside this one.
        File.Copy(_dir.File("model-0.uqff"), _dir.File($"model-{parts}.uqff"));
        Assert.Throws<QuantFormatException>(() => UqffModel.Open(path));
        File.Delete(_dir.File($"model-{parts}.uqff"));

        File.Move(_dir.File("residual.safetensors"), _dir.File("residual.bak"));
        Assert.Contains("residual.safetensors is missing", Assert.Throws<QuantFormatException>(() => UqffModel.Open(path)).Message);
        File.Move(_dir.File("residual.bak"), _dir.File("residual.safetensors"));
        using var ok = UqffModel.Open(path);
    }

    [Fact]
    public void Commit_DeletesStalePartsOfAnEarlierModel_AndAnUncommittedWriterLeavesNothing()
    {
        var big = MakeSample(new SplitMix64(8), 6);
        WriteModel(big, limit: 1);
        Assert.Equal(6, UqffModelFormat.FindParts(_dir.File("model.uqff")).Count);
        var small = MakeSample(new SplitMix64(9), 2);
        WriteModel(small, limit: long.MaxValue);
        Assert.Single(UqffModelFormat.FindParts(_dir.File("model.uqff")));
        using (var model = UqffModel.Open(_dir.File("model.uqff"))) Assert.Equal(2, model.Layers.Count);

        string other = Path.Combine(_dir.Path, "other");
        Directory.CreateDirectory(other);
        var sample = MakeSample(new SplitMix64(10), 4);
        using (var writer = new UqffModelWriter(Path.Combine(other, "m.uqff"), sample.Layers, [], 1))
        {
            writer.WriteLayer(0, sample.Blobs[0]);
            writer.WriteLayer(1, sample.Blobs[1]);
            Assert.Throws<InvalidOperationException>(() => writer.WriteLayer(3, sample.Blobs[3]));
            Assert.Throws<ArgumentException>(() => writer.WriteLayer(2, sample.Blobs[1]));
            Assert.Throws<InvalidOperationException>(writer.Commit);
        }
        Assert.Empty(Directory.GetFiles(other));
    }
}
