using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Quant.Runtime.Gguf;

namespace Quant.Runtime.Tests.Gguf;

/// <summary>GGUF writer and reader: round trips, the byte layout, and the checks the reader makes.</summary>
public sealed class GgufFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("quant-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void WriteThenRead_KeepsEveryValueType_NestedArrays_AndTensorBytes()
    {
        string path = PathOf("rich.gguf");
        var metadata = GgufSamples.RichMetadata();
        var tensors = GgufSamples.Tensors(seed: 5);
        GgufSamples.Write(path, metadata, tensors);

        using var file = GgufFile.Open(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(64, file.Alignment);
        Assert.Equal(0, file.DataOffset % 64);
        Assert.Equal(metadata.Count, file.Metadata.Count);
        for (int i = 0; i < metadata.Count; i++)
        {
            Assert.Equal(metadata[i].Key, file.Metadata[i].Key);
            Assert.True(metadata[i].Value.ContentEquals(file.Metadata[i].Value), $"key '{metadata[i].Key}': wrote {metadata[i].Value}, read {file.Metadata[i].Value}");
        }
        Assert.Equal(ulong.MaxValue, file.Metadata.GetUInt64("test.u64"));
        Assert.Equal(long.MinValue, file.Metadata.GetInt64("test.i64"));
        Assert.Equal("h\u00e9llo \u2603 \U0001F600", file.Metadata.GetString("test.string"));
        Assert.Equal(GgufSamples.Tokens(300), file.Metadata.GetStringArray("tokenizer.ggml.tokens"));
        Assert.Equal(new[] { true, false, true }, file.Metadata.GetArray("test.array.bool").ToArray<bool>());
        var nested = file.Metadata.GetArray("test.array.nested").ToArrays();
        Assert.Equal(new[] { 1, 2 }, nested[0].ToArray<int>());
        Assert.Equal(new[] { "x", "yz" }, nested[1].ToStringArray());
        Assert.Equal(new[] { 0.5f }, nested[2].ToArrays()[0].ToArray<float>());
        Assert.Empty(nested[2].ToArrays()[1].ToStringArray());

        Assert.Equal(tensors.Count, file.Tensors.Count);
        long expectedOffset = 0;
        foreach (var (spec, bytes) in tensors)
        {
            var info = file.GetTensor(spec.Name);
            Assert.Equal(spec.Dims, info.Dims);
            Assert.Equal(spec.Type.Id, info.Type.Id);
            Assert.Equal(expectedOffset, info.Offset);
            Assert.Equal(bytes.Length, info.ByteCount);
            Assert.True(file.GetData(info).SequenceEqual(bytes), $"tensor '{spec.Name}' bytes");
            expectedOffset += (bytes.Length + 63) / 64 * 64;
        }
        Assert.Equal(file.DataOffset + expectedOffset, file.Length);
        Assert.Equal(new float[] { 0, 1, 2, 3 }, file.ReadSingle(file.GetTensor("h.cube"))[..4]);
    }

    [Fact]
    public void Writer_LaysOutBytesAsTheSpecSays()
    {
        string path = PathOf("tiny.gguf");
        var metadata = new GgufMetadata().Add("k", 7u).Add("s", "ab");
        using (var writer = GgufWriter.Create(path, metadata, [GgufTensorSpec.Vector("t", 3, GgufTensorType.F32)]))
        {
            writer.WriteTensor("t", new byte[12] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 });
            writer.Commit();
        }
        byte[] b = File.ReadAllBytes(path);
        var expected = new List<byte>();
        void U32(uint v) { var x = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(x, v); expected.AddRange(x); }
        void U64(ulong v) { var x = new byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(x, v); expected.AddRange(x); }
        void Str(string s) { U64((ulong)s.Length); expected.AddRange(Encoding.ASCII.GetBytes(s)); }
        expected.AddRange("GGUF"u8.ToArray());
        U32(3); U64(1); U64(2);
        Str("k"); U32(4); U32(7);
        Str("s"); U32(8); Str("ab");
        Str("t"); U32(1); U64(3); U32(0); U64(0);
        while (expected.Count % 32 != 0) expected.Add(0);
        expected.AddRange(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 });
        while (expected.Count % 32 != 0) expected.Add(0);
        Assert.Equal(expected.ToArray(), b);
    }

    [Fact]
    public void Writer_ChecksOrderAndByteCounts_AndAnIncompleteWriteLeavesNoFile()
    {
        string path = PathOf("out.gguf");
        var table = new[] { GgufTensorSpec.Matrix("w", 2, 32, GgufTensorType.Get("q8_0")), GgufTensorSpec.Vector("b", 2, GgufTensorType.F32) };
        using (var writer = GgufWriter.Create(path, new GgufMetadata(), table))
        {
            Assert.Throws<InvalidOperationException>(() => writer.WriteTensor("b", new byte[8]));
            Assert.Throws<ArgumentException>(() => writer.WriteTensor("w", new byte[67]));
            var e = Assert.Throws<InvalidOperationException>(() => writer.WriteTensor("w", s => s.Write(new byte[69])));
            Assert.Contains("'w'", e.Message);
            // A failed write poisons the writer: nothing it writes later can be committed.
            Assert.Throws<InvalidOperationException>(() => writer.Commit());
        }
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir));

        using (var writer = GgufWriter.Create(path, new GgufMetadata(), table))
        {
            writer.WriteTensor("w", s => { s.Write(new byte[30]); s.Write(new byte[38]); });
            Assert.Throws<InvalidOperationException>(() => writer.WriteTensor("b", s => s.Write(new byte[4])));
        }
        Assert.Empty(Directory.GetFiles(_dir));

        using (var writer = GgufWriter.Create(path, new GgufMetadata(), table))
        {
            writer.WriteTensor("w", new byte[68]);
            Assert.Throws<InvalidOperationException>(() => writer.Commit());
        }
        Assert.Empty(Directory.GetFiles(_dir));

        Assert.Throws<QuantFormatException>(() => GgufWriter.Create(path, new GgufMetadata(), [GgufTensorSpec.Matrix("w", 2, 48, GgufTensorType.Get("q8_0"))]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, new GgufMetadata(), [table[1], table[1]]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, new GgufMetadata(), [GgufTensorSpec.Vector(new string('n', 64), 1, GgufTensorType.F32)]));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, new GgufMetadata().Add("general.alignment", 48u), table));
        Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, new GgufMetadata().Add("general.alignment", 64UL), table));
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void TypedGetters_NameTheKeyTheTypeAndTheOffset()
    {
        string path = PathOf("rich.gguf");
        GgufSamples.Write(path, GgufSamples.RichMetadata(), GgufSamples.Tensors(seed: 6));
        using var file = GgufFile.Open(path);
        var m = file.Metadata;
        Assert.Equal(200u, m.GetUInt32("test.u8"));
        Assert.Equal(-100, m.GetInt32("test.i8"));
        Assert.Equal(0.1f, m.GetFloat32("test.f32"));
        Assert.Equal((double)0.1f, m.GetFloat64("test.f32"));
        var e = Assert.Throws<QuantFormatException>(() => m.GetString("test.u32"));
        Assert.Contains("'test.u32'", e.Message);
        Assert.Contains("a u32, not a string", e.Message);
        Assert.Contains(path, e.Message);
        Assert.True(e.Offset > 0);
        Assert.Contains("is -100, not a non-negative integer", Assert.Throws<QuantFormatException>(() => m.GetUInt32("test.i8")).Message);
        Assert.Contains("more than a u32 holds", Assert.Throws<QuantFormatException>(() => m.GetUInt32("test.u64")).Message);
        Assert.Contains("'nope' is missing", Assert.Throws<QuantFormatException>(() => m.GetBool("nope")).Message);
        Assert.Contains("an i32 array, not a string array", Assert.Throws<QuantFormatException>(() => m.GetStringArray("test.array.i32")).Message);
        Assert.Throws<QuantFormatException>(() => file.GetTensor("nope"));
    }

    public static TheoryData<string, string, string> Corruptions => new()
    {
        // case, what the message must name, what it must say
        { "magic", "not a GGUF file", "magic" },
        { "version1", "version", "version 1" },
        { "bigendian", "version", "big-endian" },
        { "kvcount", "metadata key-value count", "claims" },
        { "tensorcount", "tensor count", "claims" },
        { "valuetype", "metadata key 'test.u8'", "unknown value type 99" },
        { "hugearray", "metadata key 'test.array.u8'", "claims 1099511627776 u8 elements" },
        { "hugestrings", "metadata key 'tokenizer.ggml.tokens'", "claims 1099511627776 string elements" },
        { "boolvalue", "metadata key 'test.bool'", "bool stored as 2" },
        { "duplicatekey", "metadata key 'test.u8'", "appears twice" },
        { "alignment", "general.alignment", "power of two" },
        { "tensortype", "tensor 'a.f32'", "ggml type 77" },
        { "blocksize", "tensor 'd.q8_0'", "not a multiple of q8_0's block size 32" },
        { "ndims", "tensor 'a.f32'", "has 5 dims" },
        { "unaligned", "tensor 'b.f16'", "not a multiple of the alignment 64" },
        { "overlap", "tensor 'c.bf16'", "inside the data of tensor 'b.f16'" },
        { "beyond", "tensor 'i.norm'", "but the file has" },
        { "duplicatetensor", "tensor 'a.f32'", "appears twice" },
        { "truncated", "tensor 'i.norm'", "the file has" },
    };

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void Reader_RefusesCorruptHeaders_NamingWhatAndWhere(string corruption, string names, string says)
    {
        string path = PathOf("rich.gguf");
        GgufSamples.Write(path, GgufSamples.RichMetadata(), GgufSamples.Tensors(seed: 7));
        byte[] b = File.ReadAllBytes(path);
        var at = GgufLocator.Locate(b);
        switch (corruption)
        {
            case "magic": b[0] = (byte)'X'; break;
            case "version1": BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), 1); break;
            case "bigendian": BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), 3); break;
            case "kvcount": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), 1UL << 40); break;
            case "tensorcount": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), ulong.MaxValue); break;
            case "valuetype": BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at.ValueType["test.u8"]), 99); break;
            case "hugearray": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at.Value["test.array.u8"] + 4), 1UL << 40); break;
            case "hugestrings": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at.Value["tokenizer.ggml.tokens"] + 4), 1UL << 40); break;
            case "boolvalue": b[at.Value["test.bool"]] = 2; break;
            case "duplicatekey": b[at.Key["test.i8"] + 8 + 5] = (byte)'u'; break; // "test.i8" -> "test.u8"
            case "alignment": BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at.Value["general.alignment"]), 48); break;
            case "tensortype": BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at.TensorType["a.f32"]), 77); break;
            case "blocksize": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at.TensorType["d.q8_0"] - 16), 48); break;
            case "ndims": BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at.TensorDims["a.f32"]), 5); break;
            case "unaligned": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at.TensorType["b.f16"] + 4), 8); break;
            case "overlap": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at.TensorType["c.bf16"] + 4), BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at.TensorType["b.f16"] + 4)) + 64); break;
            case "beyond": BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(at.TensorType["i.norm"] + 4), 1UL << 20); break;
            case "duplicatetensor": b[at.TensorName["b.f16"]] = (byte)'a'; b[at.TensorName["b.f16"] + 3] = (byte)'3'; b[at.TensorName["b.f16"] + 4] = (byte)'2'; break; // "b.f16" -> "a.f32"
            case "truncated": Array.Resize(ref b, b.Length - 50); break; // inside i.norm's 20 bytes, before its padding
        }
        string corrupt = PathOf("corrupt.gguf");
        File.WriteAllBytes(corrupt, b);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<QuantFormatException>(() => { using var f = GgufFile.Open(corrupt); });
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(names, e.Message);
        Assert.Contains(says, e.Message);
        Assert.Contains(corrupt, e.Message);
        Assert.True(allocated < b.Length + GgufCorruptionTests.AllowanceBytes, $"{corruption}: the failed open allocated {allocated} bytes for a {b.Length}-byte file.");
    }
}

/// <summary>Where each key, value and tensor info field of a valid file sits, found by walking it independently of the reader.</summary>
internal sealed class GgufLocator
{
    public Dictionary<string, int> Key { get; } = [];
    public Dictionary<string, int> ValueType { get; } = [];
    public Dictionary<string, int> Value { get; } = [];
    public Dictionary<string, int> TensorName { get; } = [];
    public Dictionary<string, int> TensorDims { get; } = [];
    public Dictionary<string, int> TensorType { get; } = [];

    public static GgufLocator Locate(byte[] b)
    {
        var l = new GgufLocator();
        int at = 24;
        long kv = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(16)), tensors = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(8));
        for (long i = 0; i < kv; i++)
        {
            string key = ReadString(b, ref at, out int keyAt);
            l.Key[key] = keyAt;
            l.ValueType[key] = at;
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));
            at += 4;
            l.Value[key] = at;
            SkipValue(b, type, ref at);
        }
        for (long i = 0; i < tensors; i++)
        {
            string name = ReadString(b, ref at, out int nameAt);
            l.TensorName[name] = nameAt + 8;
            l.TensorDims[name] = at;
            uint dims = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));
            at += 4 + 8 * (int)dims;
            l.TensorType[name] = at;
            at += 12;
        }
        return l;
    }

    private static string ReadString(byte[] b, ref int at, out int start)
    {
        start = at;
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(at));
        string s = Encoding.UTF8.GetString(b, at + 8, length);
        at += 8 + length;
        return s;
    }

    private static void SkipValue(byte[] b, uint type, ref int at)
    {
        switch (type)
        {
            case 0 or 1 or 7: at += 1; break;
            case 2 or 3: at += 2; break;
            case 4 or 5 or 6: at += 4; break;
            case 10 or 11 or 12: at += 8; break;
            case 8: ReadString(b, ref at, out _); break;
            case 9:
                uint element = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at));
                long count = BinaryPrimitives.ReadInt64LittleEndian(b.AsSpan(at + 4));
                at += 12;
                for (long i = 0; i < count; i++) SkipValue(b, element, ref at);
                break;
            default: throw new InvalidOperationException($"type {type}");
        }
    }
}
