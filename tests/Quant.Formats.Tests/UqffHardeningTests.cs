using System;
using System.Collections.Generic;
using System.Globalization;
using Quant.Formats.Tests.Support;
using Quant.Kernels;
using Quant.Uqff;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// The UQFF reader under hostile input: every truncation, thousands of seeded corruptions, lengths and
/// dimensions that claim gigabytes or overflow, trailing bytes. The only exception allowed out is
/// <see cref="QuantFormatException"/>; a blob that does parse must give a matrix the kernels can run on.
/// </summary>
public sealed class UqffHardeningTests(ITestOutputHelper output)
{
    /// <summary>Valid blobs of every layer type the codec writes, small enough to truncate at every byte.</summary>
    public static TheoryData<string> BlobNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in ValidBlobs().Keys) data.Add(name);
        return data;
    }

    private static Dictionary<string, byte[]> ValidBlobs()
    {
        var rng = new SplitMix64(1600);
        var blobs = new Dictionary<string, byte[]>();
        foreach (var entry in TestFormats.All)
        {
            if (entry.Info.Uqff is not (UqffLayer.Gguf or UqffLayer.Mxfp4)) continue;
            int k = 2 * entry.Info.BlockSize;
            var matrix = TestFormats.Quantize(entry, TestData.Matrix(rng, 3, k, Dist.Gaussian), 3, k);
            blobs[$"{entry.Info.Name} with bias"] = UqffCodec.WriteLayer(matrix, TestData.Matrix(rng, 1, 3, Dist.Gaussian));
            blobs[$"{entry.Info.Name} without bias"] = UqffCodec.WriteLayer(matrix);
        }
        foreach (var dtype in new[] { UqffDType.F32, UqffDType.F16, UqffDType.BF16 })
        {
            blobs[$"Unquant {dtype} with bias"] = UqffCodec.WriteUnquant(TestData.Matrix(rng, 3, 5, Dist.Gaussian), 3, 5, dtype, TestData.Matrix(rng, 1, 3, Dist.Gaussian));
        }
        return blobs;
    }

    [Theory, MemberData(nameof(BlobNames))]
    public void TruncatedBlob_AtEveryOffset_ThrowsQuantFormatException(string name)
    {
        var blob = ValidBlobs()[name];
        UqffCodec.ReadLayer(blob); // the whole blob is valid
        var failures = new FailureLog();
        for (int length = 0; length < blob.Length; length++)
        {
            var prefix = blob.AsSpan(0, length).ToArray();
            int at = length;
            failures.Run(() =>
            {
                var e = Record.Exception(() => UqffCodec.ReadLayer(prefix));
                if (e is not QuantFormatException) throw new Xunit.Sdk.XunitException($"{name} cut to {at} of {blob.Length} bytes: ReadLayer gave {Describe(e)}");
                var offset = ((QuantFormatException)e).Offset;
                if (offset < 0 || offset > at) throw new Xunit.Sdk.XunitException($"{name} cut to {at} bytes: the exception's offset {offset} is not in the blob");
                var q = Record.Exception(() => UqffCodec.ReadQuantLayer(prefix, out _));
                if (q is not QuantFormatException) throw new Xunit.Sdk.XunitException($"{name} cut to {at} of {blob.Length} bytes: ReadQuantLayer gave {Describe(q)}");
            });
        }
        failures.ThrowIfAny();
    }

    [Theory, MemberData(nameof(BlobNames))]
    public void TrailingBytes_AreRejected(string name)
    {
        var blob = ValidBlobs()[name];
        foreach (var tail in new[] { new byte[] { 0 }, new byte[] { 0, 0, 0, 0 }, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 } })
        {
            var longer = new byte[blob.Length + tail.Length];
            blob.CopyTo(longer, 0);
            tail.CopyTo(longer, blob.Length);
            var e = Assert.Throws<QuantFormatException>(() => UqffCodec.ReadLayer(longer));
            Assert.Equal(blob.Length, e.Offset);
        }
    }

    [Theory, MemberData(nameof(BlobNames))]
    public void CorruptedBlob_SeededMutations_ThrowOnlyQuantFormatException(string name)
    {
        var blob = ValidBlobs()[name];
        ulong seed = 1700 + StableHash(name) % 1000; // string.GetHashCode is randomised per process: not a seed
        var rng = new SplitMix64(seed);
        var failures = new FailureLog();
        int parsed = 0, rejected = 0;
        const int mutations = 1000;
        for (int m = 0; m < mutations; m++)
        {
            var (mutated, what) = Mutate(rng, blob);
            string context = $"seed {seed}, {name}, mutation {m}: {what}";
            failures.Run(() =>
            {
                var e = Record.Exception(() => UqffCodec.ReadLayer(mutated));
                if (e is null) parsed++;
                else if (e is QuantFormatException) rejected++;
                else throw new Xunit.Sdk.XunitException($"{context}: ReadLayer gave {Describe(e)}");

                QuantMatrix? matrix = null;
                var q = Record.Exception(() => matrix = UqffCodec.ReadQuantLayer(mutated, out _));
                if (q is not null and not QuantFormatException) throw new Xunit.Sdk.XunitException($"{context}: ReadQuantLayer gave {Describe(q)}");
                if (matrix is not null)
                {
                    // What parses must be usable: every plane fits the shape the kernels will walk.
                    var kernels = FormatKernels.For(QuantFormatRegistry.Get(matrix.Format.Name));
                    var y = new float[(long)matrix.Rows * matrix.Columns];
                    var k = Record.Exception(() => kernels.Dequantize(matrix, y, threads: 1));
                    if (k is not null) throw new Xunit.Sdk.XunitException($"{context}: the parsed {matrix.Rows} x {matrix.Columns} {matrix.Format.Name} matrix fails to dequantize: {Describe(k)}");
                }
            });
        }
        output.WriteLine($"{name}: {mutations} mutations, {parsed} parsed, {rejected} rejected");
        failures.ThrowIfAny();
    }

    /// <summary>Headers whose lengths or dimensions claim gigabytes: rejected before anything that size is allocated.</summary>
    [Fact]
    public void HugeClaims_ThrowBeforeAllocating()
    {
        var cases = new (string What, byte[] Blob)[]
        {
            ("Gguf q4_0 [65536, 32768] (1.2 GB)", new Blob().U32(Blob.Version).U8(0).U32(1207959552).U8(0).U32(2).U32(2).U32(65536).U32(32768).Raw(new byte[64]).ToArray()),
            ("Gguf data_len 0xFFFFFFFF", new Blob().U32(Blob.Version).U8(0).U32(0xFFFFFFFF).U8(0).U32(2).U32(2).U32(1).U32(32).Raw(new byte[64]).ToArray()),
            ("Unquant F32 [100000, 10000] (4 GB)", new Blob().U32(Blob.Version).U8(1).U8(0).U32(4000000000).U32(Blob.F32Code).U32(2).U32(100000).U32(10000).Raw(new byte[64]).ToArray()),
            ("Unquant F32 dims [2^31 - 1] x 8", HugeDims()),
            ("Unquant ndims 0xFFFFFFFF", new Blob().U32(Blob.Version).U8(1).U8(0).U32(16).U32(Blob.F32Code).U32(0xFFFFFFFF).Raw(new byte[64]).ToArray()),
            ("Mxfp4 blocks [2^30, 2] (2 GB)", new Blob().U32(Blob.Version).U8(6).U8(0).U32(0x80000000).U32(Blob.U8Code).U32(2).U32(0x40000000).U32(2).Raw(new byte[64]).ToArray()),
            ("Mxfp4 bias of 2^30 floats", new Blob().U32(Blob.Version).U8(6).U8(1)
                .Tensor(Blob.U8Code, [1, 16], new byte[16]).Tensor(Blob.U8Code, [1, 1], new byte[1])
                .U32(0xFFFFFFFC).U32(Blob.F32Code).U32(1).U32(0x3FFFFFFF).Raw(new byte[64]).ToArray()),
        };
        foreach (var (what, blob) in cases) Record.Exception(() => UqffCodec.ReadLayer(blob)); // warm up every path first

        foreach (var (what, blob) in cases)
        {
            foreach (bool quant in new[] { false, true })
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                var e = Record.Exception(() =>
                {
                    if (quant) UqffCodec.ReadQuantLayer(blob, out _);
                    else UqffCodec.ReadLayer(blob);
                });
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                string call = quant ? "ReadQuantLayer" : "ReadLayer";
                Assert.True(e is QuantFormatException, $"{what}: {call} gave {Describe(e)}");
                Assert.True(allocated < 4 << 20, string.Create(CultureInfo.InvariantCulture, $"{what}: {call} allocated {allocated} bytes before refusing"));
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{what}: {call} refused after allocating {allocated} bytes: {e!.Message}"));
            }
        }
    }

    private static byte[] HugeDims()
    {
        var b = new Blob().U32(Blob.Version).U8(1).U8(0).U32(16).U32(Blob.F32Code).U32(8);
        for (int i = 0; i < 8; i++) b.U32(int.MaxValue);
        return b.Raw(new byte[16]).ToArray();
    }

    /// <summary>Gguf dims whose product overflows a long (eight dims of 2^31 - 1): a format error, not an OverflowException.</summary>
    [Fact]
    public void GgufLayer_DimsWhoseProductOverflows_ThrowQuantFormatException()
    {
        var b = new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(2).U32(8);
        for (int i = 0; i < 7; i++) b.U32(int.MaxValue);
        var blob = b.U32(32).Raw(new byte[18]).ToArray();
        var e = Record.Exception(() => UqffCodec.ReadLayer(blob));
        Assert.True(e is QuantFormatException, $"Gguf q4_0 dims [2^31 - 1 (x7), 32]: ReadLayer gave {Describe(e)}");
    }

    /// <summary>A q8_0 row of 2^31 - 32 elements needs more than 2^31 bytes: a format error, not an OverflowException.</summary>
    [Fact]
    public void GgufLayer_RowTooWideForItsByteCount_ThrowsQuantFormatException()
    {
        var blob = new Blob().U32(Blob.Version).U8(0).U32(34).U8(0).U32(8).U32(2).U32(1).U32(2147483616).Raw(new byte[34]).ToArray();
        var e = Record.Exception(() => UqffCodec.ReadLayer(blob));
        Assert.True(e is QuantFormatException, $"Gguf q8_0 dims [1, 2147483616]: ReadLayer gave {Describe(e)}");
    }

    /// <summary>
    /// q4_0 [2^28, 2^28, 4096] holds 2^56 rows of 2304 bytes = 9 * 2^64 bytes, which is 0 modulo 2^64: a
    /// byte count computed without overflow checks matches a data_len of 0, and the header is accepted.
    /// </summary>
    [Fact]
    public void GgufLayer_DimsWhoseByteCountWrapsToDataLen_AreRejected()
    {
        var blob = new Blob().U32(Blob.Version).U8(0).U32(0).U8(0).U32(2).U32(3).U32(1u << 28).U32(1u << 28).U32(4096).ToArray();
        var e = Record.Exception(() => UqffCodec.ReadLayer(blob));
        Assert.True(e is QuantFormatException, $"Gguf q4_0 dims [2^28, 2^28, 4096] with data_len 0: ReadLayer gave {Describe(e)}");
        Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(blob, out _));
    }

    [Fact]
    public void MalformedHeaders_ThrowQuantFormatException()
    {
        var q4 = new byte[18];
        var cases = new (string What, byte[] Blob)[]
        {
            ("empty", []),
            ("layer type 7", new Blob().U32(Blob.Version).U8(7).Raw(new byte[32]).ToArray()),
            ("layer type 255", new Blob().U32(Blob.Version).U8(255).Raw(new byte[32]).ToArray()),
            ("layer type Hqq (not read yet)", new Blob().U32(Blob.Version).U8(2).Raw(new byte[32]).ToArray()),
            ("layer type Fp8 (not read yet)", new Blob().U32(Blob.Version).U8(3).Raw(new byte[32]).ToArray()),
            ("layer type Afq (not read yet)", new Blob().U32(Blob.Version).U8(4).Raw(new byte[32]).ToArray()),
            ("layer type F8Q8 (not read yet)", new Blob().U32(Blob.Version).U8(5).Raw(new byte[32]).ToArray()),
            ("has_bias 2", new Blob().U32(Blob.Version).U8(0).U32(18).U8(2).U32(2).U32(2).U32(1).U32(32).Raw(q4).ToArray()),
            ("unregistered ggml type 12345", new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(12345).U32(2).U32(1).U32(32).Raw(q4).ToArray()),
            ("ggml type 0x80000000", new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(0x80000000).U32(2).U32(1).U32(32).Raw(q4).ToArray()),
            ("Gguf 1-D weight", new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(2).U32(1).U32(32).Raw(q4).ToArray()),
            ("Gguf K not a block multiple", new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(2).U32(2).U32(1).U32(33).Raw(q4).ToArray()),
            ("Gguf K = 0", new Blob().U32(Blob.Version).U8(0).U32(0).U8(0).U32(2).U32(2).U32(1).U32(0).ToArray()),
            ("Gguf data_len one short of its shape", new Blob().U32(Blob.Version).U8(0).U32(17).U8(0).U32(2).U32(2).U32(1).U32(32).Raw(q4.AsSpan(0, 17)).ToArray()),
            ("Gguf dim above int.MaxValue", new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(2).U32(2).U32(0x80000000).U32(32).Raw(q4).ToArray()),
            ("Gguf ndims 9", new Blob().U32(Blob.Version).U8(0).U32(18).U8(0).U32(2).U32(9).Raw(new byte[64]).ToArray()),
            ("tensor dtype 10 (4-bit)", new Blob().U32(Blob.Version).U8(1).U8(0).Tensor(10, [1, 2], new byte[1]).ToArray()),
            ("tensor dtype 13 (E8M0)", new Blob().U32(Blob.Version).U8(1).U8(0).Tensor(13, [1, 2], new byte[2]).ToArray()),
            ("tensor dtype 14", new Blob().U32(Blob.Version).U8(1).U8(0).Tensor(14, [1, 2], new byte[2]).ToArray()),
            ("tensor dtype 0xFFFFFFFF", new Blob().U32(Blob.Version).U8(1).U8(0).Tensor(0xFFFFFFFF, [1, 2], new byte[2]).ToArray()),
            ("tensor data_len not its shape's", new Blob().U32(Blob.Version).U8(1).U8(0).Tensor(Blob.F32Code, [2, 3], new byte[20]).ToArray()),
        };
        foreach (var (what, blob) in cases)
        {
            var e = Record.Exception(() => UqffCodec.ReadLayer(blob));
            Assert.True(e is QuantFormatException, $"{what}: ReadLayer gave {Describe(e)}");
        }
    }

    [Fact]
    public void Mxfp4Layer_ShapesThatDoNotFit_ThrowQuantFormatException()
    {
        var cases = new (string What, byte[] Blob)[]
        {
            ("scales one column too many", Mxfp4(Blob.U8Code, [2, 16], Blob.U8Code, [2, 2])),
            ("scales for 3 rows, blocks for 2", Mxfp4(Blob.U8Code, [2, 16], Blob.U8Code, [3, 1])),
            ("blocks of 17 bytes per row (K = 34)", Mxfp4(Blob.U8Code, [2, 17], Blob.U8Code, [2, 1])),
            ("blocks of 0 bytes per row", Mxfp4(Blob.U8Code, [2, 0], Blob.U8Code, [2, 0])),
            ("1-D blocks", Mxfp4(Blob.U8Code, [32], Blob.U8Code, [2, 1])),
            ("F16 scales", Mxfp4(Blob.U8Code, [2, 16], Blob.F16Code, [2, 1])),
            ("I16 blocks", Mxfp4(8, [2, 8], Blob.U8Code, [2, 1])),
            ("blocks record claiming 2^31 - 16 bytes it does not have", Mxfp4(Blob.U8Code, [1, 0x7FFFFFF0], Blob.U8Code, [1, 1], withData: false)),
        };
        foreach (var (what, blob) in cases)
        {
            var e = Record.Exception(() => UqffCodec.ReadQuantLayer(blob, out _));
            Assert.True(e is QuantFormatException, $"Mxfp4 layer, {what}: ReadQuantLayer gave {Describe(e)}");
        }

        // A bias that is not one value per row, in a Gguf layer.
        var gguf = new Blob().U32(Blob.Version).U8(0).U32(36).U8(1).U32(2).U32(2).U32(2).U32(32).Raw(new byte[36])
            .Tensor(Blob.F32Code, [3], new byte[12]).ToArray();
        Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(gguf, out _));
        var u8Bias = new Blob().U32(Blob.Version).U8(0).U32(36).U8(1).U32(2).U32(2).U32(2).U32(32).Raw(new byte[36])
            .Tensor(Blob.U8Code, [2], new byte[2]).ToArray();
        Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(u8Bias, out _));
    }

    private static byte[] Mxfp4(uint blocksType, uint[] blocksDims, uint scalesType, uint[] scalesDims, bool withData = true)
    {
        static int Bytes(uint dtype, uint[] dims)
        {
            long n = 1;
            foreach (uint d in dims) n *= d;
            return checked((int)(n * (dtype is 4 or 5 or 8 ? 2 : 1)));
        }
        var b = new Blob().U32(Blob.Version).U8(6).U8(0);
        if (withData)
        {
            b.Tensor(blocksType, blocksDims, new byte[Bytes(blocksType, blocksDims)]);
        }
        else
        {
            // The record claims its full length; the data after it is short (the shape check or the length check must refuse it).
            b.U32((uint)Bytes(blocksType, blocksDims)).U32(blocksType).U32((uint)blocksDims.Length);
            foreach (uint d in blocksDims) b.U32(d);
            b.Raw(new byte[16]);
        }
        return b.Tensor(scalesType, scalesDims, new byte[Bytes(scalesType, scalesDims)]).ToArray();
    }

    /// <summary>One random corruption: byte overwrites, bit flips, insertions, deletions, or a header field set to an extreme.</summary>
    private static (byte[] Blob, string What) Mutate(SplitMix64 rng, byte[] blob)
    {
        var bytes = new List<byte>(blob);
        var what = new List<string>();
        int edits = 1 + rng.NextInt(3);
        for (int i = 0; i < edits; i++)
        {
            // Two thirds of the edits land in the first 48 bytes, where the header fields are.
            int span = rng.NextInt(3) < 2 ? Math.Min(48, bytes.Count) : bytes.Count;
            int at = span == 0 ? 0 : rng.NextInt(span);
            switch (rng.NextInt(6))
            {
                case 0 when bytes.Count > 0:
                    byte v = rng.NextByte();
                    what.Add($"byte {at} = 0x{v:X2}");
                    bytes[at] = v;
                    break;
                case 1 when bytes.Count > 0:
                    int bit = rng.NextInt(8);
                    what.Add($"flip bit {bit} of byte {at}");
                    bytes[at] ^= (byte)(1 << bit);
                    break;
                case 2:
                    int count = 1 + rng.NextInt(4);
                    what.Add($"insert {count} bytes at {at}");
                    for (int c = 0; c < count; c++) bytes.Insert(at, rng.NextByte());
                    break;
                case 3 when bytes.Count > 0:
                    int remove = Math.Min(1 + rng.NextInt(4), bytes.Count - at);
                    what.Add($"delete {remove} bytes at {at}");
                    bytes.RemoveRange(at, remove);
                    break;
                case 4 when bytes.Count >= 4:
                    // A u32 field at a 4-aligned-or-not offset set to an extreme value.
                    int field = Math.Min(at, bytes.Count - 4);
                    uint[] extremes = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000, 0x3FFFFFFF];
                    uint value = extremes[rng.NextInt(extremes.Length)];
                    what.Add($"u32 at {field} = 0x{value:X8}");
                    for (int c = 0; c < 4; c++) bytes[field + c] = (byte)(value >> (8 * c));
                    break;
                default:
                    int keep = rng.NextInt(bytes.Count + 1);
                    what.Add($"truncate to {keep}");
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    break;
            }
        }
        return (bytes.ToArray(), string.Join("; ", what));
    }

    private static ulong StableHash(string text)
    {
        ulong h = 14695981039346656037UL; // FNV-1a
        foreach (char c in text) h = (h ^ c) * 1099511628211UL;
        return h;
    }

    private static string Describe(Exception? e)
        => e is null ? "no exception" : $"{e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n')[0].Trim()}";
}
