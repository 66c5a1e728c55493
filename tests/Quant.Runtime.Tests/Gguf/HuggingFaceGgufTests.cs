using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Quant.Runtime.Gguf;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>GGUF files cross-checked with @huggingface/gguf (npm): Quant's files parse there the same, and files built with its serializer read here.</summary>
public sealed class HuggingFaceGgufTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("quant-hf-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [NodeFact]
    public void QuantFiles_ParseInHuggingFaceGguf_WithTheSameMetadataAndTensorTable()
    {
        NodeTools.Require();
        string rich = Path.Combine(_dir, "rich.gguf");
        GgufSamples.Write(rich, GgufSamples.RichMetadata(), GgufSamples.Tensors(seed: 11));
        string llama = Path.Combine(_dir, "llama.gguf");
        var config = new LlamaConfig(32, 256, 1, 512, 4, 2, 1e-5f, 300);
        LlamaGguf.Write(llama, config, TinyLlama.AsCheckpoint(TinyLlama.Create(config, seed: 4)), new LlamaGgufOptions { Type = "q4_K", Name = "tiny" });

        foreach (var path in new[] { rich, llama }) AssertParsesTheSame(path);
    }

    /// <summary>What <c>quant quantize</c> writes (architecture metadata, a tokenizer from tokenizer.json, stacked experts, MXFP4) parses there the same.</summary>
    [NodeFact]
    public void QuantizeOutputs_ParseInHuggingFaceGguf_WithTheSameMetadataAndTensorTable()
    {
        NodeTools.Require();
        var sizes = new Conversion.TestCheckpoints.Sizes(Hidden: 64, Ffn: 64, Heads: 2, KvHeads: 1, Vocab: 300, Experts: 2);
        foreach (var (modelType, format) in new[] { ("llama", "q4_0"), ("qwen3_moe", "q8_0"), ("gpt_oss", "q5_1") })
        {
            string folder = Path.Combine(_dir, modelType);
            Conversion.TestCheckpoints.Write(folder, modelType, sizes, seed: 5);
            Conversion.TestCheckpoints.WriteTokenizer(folder, sizes.Vocab);
            string path = Path.Combine(_dir, modelType + ".gguf");
            var options = new Quant.Runtime.Conversion.CheckpointQuantizerOptions { Format = format, Name = modelType };
            using (var source = Quant.Runtime.Conversion.CheckpointSource.Open(folder))
                Quant.Runtime.Conversion.CheckpointQuantizer.Run(Quant.Runtime.Conversion.QuantizePlan.Create(source, path, options), options);
            AssertParsesTheSame(path);
        }
    }

    private static void AssertParsesTheSame(string path)
    {
        var (code, stdout, stderr) = NodeTools.Run("gguf-dump.mjs", TimeSpan.FromMinutes(1), path);
        Assert.True(code == 0, $"gguf-dump failed on {path}: {stderr}");
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        using var file = GgufFile.Open(path);
        Assert.Equal(3, root.GetProperty("version").GetInt32());
        Assert.Equal(file.Tensors.Count.ToString(CultureInfo.InvariantCulture), root.GetProperty("tensorCount").GetString());
        Assert.Equal(file.Metadata.Count.ToString(CultureInfo.InvariantCulture), root.GetProperty("kvCount").GetString());
        Assert.Equal(file.DataOffset.ToString(CultureInfo.InvariantCulture), root.GetProperty("tensorDataOffset").GetString());
        var metadata = root.GetProperty("metadata");
        Assert.Equal(file.Metadata.Count, metadata.EnumerateObject().Count());
        foreach (var (key, value) in file.Metadata)
        {
            var entry = metadata.GetProperty(key);
            Assert.Equal((int)value.Type, entry.GetProperty("type").GetInt32());
            if (value.Type == GgufValueType.Array) Assert.Equal((int)value.AsArray().ElementType, entry.GetProperty("subType").GetInt32());
            AssertSame(value, entry.GetProperty("value"), key);
        }
        var tensors = root.GetProperty("tensors").EnumerateArray().ToArray();
        Assert.Equal(file.Tensors.Count, tensors.Length);
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = file.Tensors[i];
            Assert.Equal(t.Name, tensors[i].GetProperty("name").GetString());
            Assert.Equal(t.Dims.Select(d => d.ToString(CultureInfo.InvariantCulture)), tensors[i].GetProperty("shape").EnumerateArray().Select(d => d.GetString()));
            Assert.Equal(t.Type.Id, tensors[i].GetProperty("dtype").GetInt32());
            Assert.Equal(t.Offset.ToString(CultureInfo.InvariantCulture), tensors[i].GetProperty("offset").GetString());
        }
    }

    [NodeFact]
    public void FilesBuiltWithHuggingFaceGgufSerializer_ReadInQuant()
    {
        NodeTools.Require();
        string path = Path.Combine(_dir, "hf.gguf");
        var (code, _, stderr) = NodeTools.Run("gguf-build.mjs", TimeSpan.FromMinutes(1), path);
        Assert.True(code == 0, $"gguf-build failed: {stderr}");

        using var file = GgufFile.Open(path);
        var m = file.Metadata;
        Assert.Equal(64, file.Alignment);
        Assert.Equal("llama", m.GetString("general.architecture"));
        Assert.Equal(GgufValue.FromUInt8(200).Bits, m.Get("test.u8").Bits);
        Assert.Equal(GgufValueType.Int8, m.Get("test.i8").Type);
        Assert.Equal(-100, m.GetInt32("test.i8"));
        Assert.Equal(60000u, m.GetUInt32("test.u16"));
        Assert.Equal(-30000, m.GetInt32("test.i16"));
        Assert.Equal(4000000000u, m.GetUInt32("test.u32"));
        Assert.Equal(-2000000000, m.GetInt32("test.i32"));
        Assert.Equal(0.1f, m.GetFloat32("test.f32"));
        Assert.True(m.GetBool("test.bool"));
        Assert.Equal("h\u00e9llo \u2603", m.GetString("test.string"));
        Assert.Equal(ulong.MaxValue, m.GetUInt64("test.u64"));
        Assert.Equal(long.MinValue, m.GetInt64("test.i64"));
        Assert.Equal(2.718281828459045, m.GetFloat64("test.f64"));
        Assert.Equal(new[] { 1, -2, 3 }, m.GetArray("test.array.i32").ToArray<int>());
        Assert.Equal(new[] { "a", "", "\u00fc" }, m.GetStringArray("test.array.string"));
        Assert.Equal(new[] { 1.5f, -0.25f }, m.GetArray("test.array.f32").ToArray<float>());
        Assert.Equal(GgufValueType.Int16, m.GetArray("test.array.empty").ElementType);
        Assert.Equal(0, m.GetArray("test.array.empty").Count);

        Assert.Equal(new[] { "f32.vec", "f16.mat", "q8_0.mat" }, file.Tensors.Select(t => t.Name));
        Assert.Equal(Enumerable.Range(0, 8).Select(i => i * 0.5f - 1), file.ReadSingle(file.GetTensor("f32.vec")));
        var f16 = file.GetTensor("f16.mat");
        Assert.Equal(new long[] { 4, 3 }, f16.Dims);
        Assert.Equal(Enumerable.Range(0, 12).Select(i => i * 0.25f), file.ReadSingle(f16));
        var q8 = file.GetTensor("q8_0.mat");
        Assert.Equal("q8_0", q8.Type.Name);
        Assert.Equal(Enumerable.Range(0, 64).Select(i => (i % 32 - 16 + i / 32) * 0.5f), file.ReadSingle(q8));
    }

    // A value read by Quant against the JSON gguf-dump printed for it (u64 / i64 as decimal strings).
    private static void AssertSame(GgufValue value, JsonElement json, string key)
    {
        switch (value.Type)
        {
            case GgufValueType.String:
                Assert.Equal(value.AsString(), json.GetString());
                break;
            case GgufValueType.Bool:
                Assert.Equal(value.AsBool(), json.GetBoolean());
                break;
            case GgufValueType.UInt64:
            case GgufValueType.Int64:
                Assert.Equal(value.ToString(), json.GetString());
                break;
            case GgufValueType.Float32:
            case GgufValueType.Float64:
                Assert.True(value.AsFloat64() == json.GetDouble(), $"{key}: Quant read {value}, @huggingface/gguf {json}");
                break;
            case GgufValueType.Array:
                var elements = value.AsArray().Elements().ToArray();
                var items = json.EnumerateArray().ToArray();
                Assert.True(elements.Length == items.Length, $"{key}: {elements.Length} elements in Quant, {items.Length} in @huggingface/gguf");
                for (int i = 0; i < elements.Length; i++) AssertSame(elements[i], items[i], $"{key}[{i}]");
                break;
            default:
                Assert.True(value.TryGetInt64(out long integer) && integer == json.GetInt64(), $"{key}: Quant read {value}, @huggingface/gguf {json}");
                break;
        }
    }
}
