using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Quant.Formats.Tests.Support;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Runtime.Tests;

public sealed class SafetensorsTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestTensors.TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Dictionary<string, HostTensor> Sample(SplitMix64 rng) => new()
    {
        ["model.embed_tokens.weight"] = TestTensors.Random(rng, DType.BF16, 7, 12),
        ["model.layers.0.mlp.experts.gate_up_proj_blocks"] = TestTensors.Random(rng, DType.U8, 2, 6, 3, 16),
        ["model.layers.0.self_attn.q_proj.weight"] = TestTensors.Random(rng, DType.F32, 5, 4),
        ["model.layers.0.self_attn.q_proj.bias"] = TestTensors.Random(rng, DType.F16, 5),
        ["w_fp8"] = TestTensors.Random(rng, DType.F8E4M3, 3, 8),
        ["ids"] = TestTensors.Random(rng, DType.I64, 3),
        ["scalar"] = TestTensors.Random(rng, DType.F32),
        ["empty"] = HostTensor.Zeros(DType.F32, 0, 4),
    };

    [Fact]
    public void WriteThenRead_GivesEveryTensorBackBitForBit_WithMetadata()
    {
        var rng = new SplitMix64(301);
        var tensors = Sample(rng);
        string path = _dir.File("a.safetensors");
        SafetensorsWriter.WriteFile(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(0, file.DataStart % 8);
        Assert.Equal(tensors.Keys.OrderBy(k => k), file.Names.OrderBy(k => k));
        foreach (var (name, expected) in tensors)
        {
            var got = file.Get(name);
            Assert.Equal(expected.DType, got.DType);
            Assert.Equal(expected.Shape, got.Shape);
            Assert.True(expected.Bytes.SequenceEqual(got.Bytes), name);
        }
        Assert.Single(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Writer_RefusesOutOfOrderAndShortTensors_AndLeavesNoFile()
    {
        string path = _dir.File("b.safetensors");
        var infos = new[] { new SafetensorsTensorInfo("a", DType.F32, [2]), new SafetensorsTensorInfo("b", DType.U8, [3]) };
        using (var writer = new SafetensorsWriter(path, infos))
        {
            Assert.Throws<InvalidOperationException>(() => writer.Write("b", new byte[3]));
            writer.Write("a", new byte[8]);
            writer.Write("b", new byte[2]);
            Assert.Throws<InvalidOperationException>(() => writer.Write("b", new byte[2]));
            var e = Assert.Throws<InvalidOperationException>(writer.Commit);
            Assert.Contains("'b' got 2 of its 3 bytes", e.Message);
        }
        Assert.Empty(Directory.GetFiles(_dir.Path));
    }

    /// <summary>Builds a file from a header text and a data section, as a corrupt writer might.</summary>
    private string Raw(string header, int dataBytes, ulong? claimedLength = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        string path = _dir.File(Guid.NewGuid().ToString("N") + ".safetensors");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "runs past the end")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "has 12 bytes but data_offsets")]
    [InlineData("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype 'F33'")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "dimension 0")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they begin")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", 8, "overlaps")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, "appears twice")]
    [InlineData("{\"a\":{\"dtype\":\"U8\",\"shape\":[8]}}", 8, "data_offsets")]
    [InlineData("[1,2]", 0, "must be a JSON object")]
    [InlineData("{\"a\":", 0, "not valid JSON")]
    [InlineData("{\"__metadata__\":{\"k\":3}}", 0, "must be a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296],\"data_offsets\":[0,8]}}", 8, "dimension 0")]
    [InlineData("{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,4],\"data_offsets\":[0,8]}}", 8, "too large")]
    public void HeadersThatLie_AreRefusedWithTheTensorNamed(string header, int dataBytes, string expected)
    {
        var e = Assert.Throws<QuantFormatException>(() => SafetensorsFile.Open(Raw(header, dataBytes)).Dispose());
        output.WriteLine(e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue)]
    [InlineData(200_000_000UL)]
    public void HugeHeaderLengths_AreRefusedBeforeReading(ulong claimed)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<QuantFormatException>(() => SafetensorsFile.Open(Raw("{}", 16, claimed)).Dispose());
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("header claims", e.Message);
    }

    [Fact]
    public void TruncatedAtEveryByte_AndByteFlipped_ThrowOnlyQuantFormatException_AndAllocateLittle()
    {
        var rng = new SplitMix64(302);
        string path = _dir.File("valid.safetensors");
        SafetensorsWriter.WriteFile(path, Sample(rng), new Dictionary<string, string> { ["format"] = "pt" });
        var valid = File.ReadAllBytes(path);
        int refused = 0, accepted = 0;
        string corrupt = _dir.File("corrupt.safetensors");
        void Check(byte[] bytes, string what)
        {
            File.WriteAllBytes(corrupt, bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                using var file = SafetensorsFile.Open(corrupt);
                foreach (var entry in file.Entries) _ = file.Get(entry.Name).Bytes.Length;
                accepted++;
            }
            catch (QuantFormatException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < bytes.Length * 16L + (64 << 10), $"{what}: allocated {allocated} bytes for a {bytes.Length}-byte file");
        }
        for (int length = 0; length < valid.Length; length++) Check(valid[..length], $"truncated at {length}");
        for (int i = 0; i < 3000; i++)
        {
            var bytes = (byte[])valid.Clone();
            int flips = 1 + rng.NextInt(3);
            for (int f = 0; f < flips; f++) bytes[rng.NextInt(Math.Min(bytes.Length, 8 + 700))] ^= (byte)(1 << rng.NextInt(8));
            Check(bytes, $"seed 302 flip case {i}");
        }
        output.WriteLine($"{valid.Length} truncations and 3000 flipped files: {refused} refused with QuantFormatException, {accepted} still valid (flips inside tensor data or harmless header bytes)");
        Assert.True(refused > valid.Length);
    }
}
