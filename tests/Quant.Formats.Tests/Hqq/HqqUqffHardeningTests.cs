using System;
using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Quant.Uqff;
using Xunit.Abstractions;

namespace Quant.Formats.Tests.Hqq;

/// <summary>
/// Corrupt and truncated UQFF Hqq layers: every truncation, seeded corruptions, each header field out of range,
/// records that do not fit the header, and shapes that claim more than the blob holds. <see cref="QuantFormatException"/>
/// is the only exception that may come out of <see cref="UqffCodec.ReadLayer"/>, <see cref="UqffCodec.ReadQuantLayer"/>
/// and <see cref="UqffCodec.DequantizeHqq"/>; a layer that parses as a matrix must dequantize.
/// </summary>
public sealed class HqqUqffHardeningTests(ITestOutputHelper output)
{
    private const uint I32Code = 2, U32Code = 1;

    public static TheoryData<string> BlobNames()
    {
        var data = new TheoryData<string>();
        foreach (var name in ValidBlobs().Keys) data.Add(name);
        return data;
    }

    private static Dictionary<string, byte[]> ValidBlobs()
    {
        var rng = new SplitMix64(4100);
        var blobs = new Dictionary<string, byte[]>();
        foreach (var (format, rows) in new[] { ("hqq4_g64", 3), ("hqq3_g32", 2), ("hqq1_g32", 3), ("hqq8_g32", 1) })
        {
            var entry = TestFormats.Get(format);
            int k = 2 * entry.Info.BlockSize;
            var matrix = TestFormats.Quantize(entry, TestData.Matrix(rng, rows, k, Dist.Gaussian), rows, k);
            blobs[$"{format} with bias"] = UqffCodec.WriteLayer(matrix, TestData.Matrix(rng, 1, rows, Dist.Gaussian));
            blobs[$"{format} without bias"] = UqffCodec.WriteLayer(matrix);
        }
        blobs["axis 0, 2-bit, [8, 16] in groups of 32"] = Header(Blob.U8Code, [8, 4], [1, 4], [8, 16], bits: 2, group: 32, axis: 0, codeBytes: 32);
        return blobs;
    }

    /// <summary>An Hqq blob field by field; the record data are zeros of the right length unless <paramref name="codeBytes"/> says otherwise.</summary>
    private static byte[] Header(uint codeType, uint[] codeDims, uint[] scaleDims, uint[] shape, int bits = 4, uint group = 64, int axis = 1,
        uint scaleType = Blob.F32Code, uint zeroType = Blob.F32Code, uint[]? zeroDims = null, int roundZeros = 0, int channelWise = 1, int codeBytes = -1)
    {
        static int Count(uint[] dims)
        {
            long n = 1;
            foreach (uint d in dims) n *= d;
            return checked((int)n);
        }
        static int Size(uint dtype) => dtype switch { 0 or 9 => 1, 4 or 5 or 8 => 2, 3 or 7 => 8, _ => 4 };
        zeroDims ??= scaleDims;
        var blob = new Blob().U32(Blob.Version).U8(2).U8(0)
            .Tensor(codeType, codeDims, new byte[codeBytes >= 0 ? codeBytes : Count(codeDims) * Size(codeType)])
            .Tensor(scaleType, scaleDims, new byte[Count(scaleDims) * Size(scaleType)])
            .Tensor(zeroType, zeroDims, new byte[Count(zeroDims) * Size(zeroType)])
            .U32((uint)shape.Length);
        foreach (uint d in shape) blob.U32(d);
        return blob.U8(bits).U32(group).U8(axis).U32(10).U8(roundZeros).U8(channelWise).ToArray();
    }

    [Theory, MemberData(nameof(BlobNames))]
    public void TruncatedBlob_AtEveryOffset_ThrowsQuantFormatException(string name)
    {
        var blob = ValidBlobs()[name];
        UqffCodec.DequantizeHqq(UqffCodec.ReadLayer(blob)); // the whole blob is valid
        var failures = new FailureLog();
        for (int length = 0; length < blob.Length; length++)
        {
            var prefix = blob.AsSpan(0, length).ToArray();
            int at = length;
            failures.Run(() =>
            {
                var e = Record.Exception(() => UqffCodec.ReadLayer(prefix));
                if (e is not QuantFormatException q || q.Offset < 0 || q.Offset > at)
                {
                    throw new Xunit.Sdk.XunitException($"{name} cut to {at} of {blob.Length} bytes: ReadLayer gave {Describe(e)}");
                }
                var r = Record.Exception(() => UqffCodec.ReadQuantLayer(prefix, out _));
                if (r is not QuantFormatException) throw new Xunit.Sdk.XunitException($"{name} cut to {at} of {blob.Length} bytes: ReadQuantLayer gave {Describe(r)}");
            });
        }
        failures.ThrowIfAny();
    }

    [Theory, MemberData(nameof(BlobNames))]
    public void CorruptedBlob_SeededMutations_ThrowOnlyQuantFormatException(string name)
    {
        var blob = ValidBlobs()[name];
        var rng = new SplitMix64(4200 + (ulong)name.Length * 7 + blob[^1]);
        var failures = new FailureLog();
        int parsed = 0, matrices = 0;
        const int mutations = 1500;
        for (int m = 0; m < mutations; m++)
        {
            var (mutated, what) = Mutate(rng, blob);
            string context = $"{name}, mutation {m}: {what}";
            failures.Run(() =>
            {
                UqffLayerBlob? layer = null;
                var e = Record.Exception(() => layer = UqffCodec.ReadLayer(mutated));
                if (e is not null and not QuantFormatException) throw new Xunit.Sdk.XunitException($"{context}: ReadLayer gave {Describe(e)}");
                if (layer is null) return;
                parsed++;
                if (layer.Type == UqffLayer.Hqq)
                {
                    var d = Record.Exception(() => UqffCodec.DequantizeHqq(layer));
                    if (d is not null and not QuantFormatException) throw new Xunit.Sdk.XunitException($"{context}: DequantizeHqq gave {Describe(d)}");
                }
                QuantMatrix? matrix = null;
                var q = Record.Exception(() => matrix = UqffCodec.ReadQuantLayer(mutated, out _));
                if (q is not null and not QuantFormatException) throw new Xunit.Sdk.XunitException($"{context}: ReadQuantLayer gave {Describe(q)}");
                if (matrix is null) return;
                matrices++;
                var entry = QuantFormatRegistry.Get(matrix.Format.Name);
                var k = Record.Exception(() => TestFormats.Dequantize(entry, matrix));
                if (k is not null) throw new Xunit.Sdk.XunitException($"{context}: the parsed {matrix.Rows} x {matrix.Columns} {matrix.Format.Name} matrix fails to dequantize: {Describe(k)}");
            });
        }
        output.WriteLine($"{name}: {mutations} mutations, {parsed} parsed, {matrices} read as matrices");
        failures.ThrowIfAny();
    }

    [Fact]
    public void MalformedLayers_ThrowQuantFormatException()
    {
        // Where each is refused: 0 by ReadLayer (the framing), 1 by DequantizeHqq (records that do not fit the header),
        // 2 only as a matrix of a format (ReadQuantLayer).
        var cases = new (string What, byte[] Blob, int RefusedBy)[]
        {
            ("bits 0", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], bits: 0), 0),
            ("bits 5", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], bits: 5), 0),
            ("bits 6", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], bits: 6), 0),
            ("group_size 0", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], group: 0), 0),
            ("group_size 2^31", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], group: 0x80000000), 0),
            ("axis 2", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], axis: 2), 0),
            ("round_zeros 2", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], roundZeros: 2), 0),
            ("channel_wise 2", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], channelWise: 2), 0),
            ("w_shape ndims 9", new Blob().U32(Blob.Version).U8(2).U8(0).Tensor(Blob.U8Code, [1, 1], new byte[1]).Tensor(Blob.F32Code, [1], new byte[4])
                .Tensor(Blob.F32Code, [1], new byte[4]).U32(9).Raw(new byte[64]).ToArray(), 0),
            ("bias of 7 for 3 rows", WithBias(Header(Blob.U8Code, [3, 64], [6, 1], [3, 128]), 7), 0),
            ("w_q record claiming 2 GB", new Blob().U32(Blob.Version).U8(2).U8(0).U32(0x80000000).U32(Blob.U8Code).U32(2).U32(0x40000000).U32(2).Raw(new byte[64]).ToArray(), 0),
            ("channel_wise 0", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], channelWise: 0), 1),
            ("w_shape 0-D", Header(Blob.U8Code, [3, 64], [6, 1], []), 1),
            ("w_shape with a zero", Header(Blob.U8Code, [0, 64], [0, 1], [0, 128]), 1),
            ("w_shape not a whole number of groups", Header(Blob.U8Code, [3, 64], [6, 1], [3, 127]), 1),
            ("w_shape for 7 groups, records for 6", Header(Blob.U8Code, [3, 64], [6, 1], [7, 64]), 1),
            ("w_q one packed row short", Header(Blob.U8Code, [2, 64], [6, 1], [3, 128]), 1),
            ("w_q columns 32", Header(Blob.U8Code, [3, 32], [6, 1], [3, 128]), 1),
            ("w_q U32", Header(U32Code, [3, 64], [6, 1], [3, 128]), 1),
            ("w_q I32 for 4 bits", Header(I32Code, [3, 64], [6, 1], [3, 128]), 1),
            ("w_q U8 for 3 bits", Header(Blob.U8Code, [1, 64], [6, 1], [3, 128], bits: 3), 1),
            ("w_q 3-D", Header(Blob.U8Code, [3, 64, 1], [6, 1], [3, 128]), 1),
            ("scales [6]", Header(Blob.U8Code, [3, 64], [6], [3, 128]), 1),
            ("scales [1, 6] on axis 1", Header(Blob.U8Code, [3, 64], [1, 6], [3, 128]), 1),
            ("scales [6, 1] on axis 0", Header(Blob.U8Code, [32, 6], [6, 1], [3, 128], axis: 0), 1),
            ("scales U8", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], scaleType: Blob.U8Code), 1),
            ("scales and zeros F64", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], scaleType: 7, zeroType: 7), 1),
            ("zeros F16, scales F32", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], zeroType: Blob.F16Code), 1),
            ("zeros [5, 1]", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], zeroDims: [5, 1]), 1),
            ("axis 0 with more groups than an int", Header(Blob.U8Code, [32, 1], [1, 1], [0x7FFFFFC0, 0x7FFFFFC0], axis: 0), 1),
            ("axis 1 with 2^56 groups", Header(Blob.U8Code, [1, 64], [1, 1], [0x7FFFFFC0, 0x7FFFFFC0]), 1),
            ("w_shape [2^31 - 1] x 8", Header(Blob.U8Code, [1, 64], [1, 1], [0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF]), 1),
            ("w_shape 1-D", Header(Blob.U8Code, [3, 64], [6, 1], [384]), 2),
            ("no format for 4 bits in groups of 16", Header(Blob.U8Code, [3, 16], [6, 1], [3, 32], group: 16), 2),
            ("F16 scales and zeros for an F32 format", Header(Blob.U8Code, [3, 64], [6, 1], [3, 128], scaleType: Blob.F16Code, zeroType: Blob.F16Code), 2),
            ("axis 0", Header(Blob.U8Code, [32, 6], [1, 6], [3, 128], axis: 0), 2),
        };
        foreach (var (what, blob, refusedBy) in cases)
        {
            UqffLayerBlob? layer = null;
            var e = Record.Exception(() => layer = UqffCodec.ReadLayer(blob));
            if (refusedBy == 0)
            {
                Assert.True(e is QuantFormatException, $"{what}: ReadLayer gave {Describe(e)}");
            }
            else
            {
                Assert.True(e is null, $"{what}: ReadLayer should parse the layer's framing; it gave {Describe(e)}");
                var d = Record.Exception(() => UqffCodec.DequantizeHqq(layer!));
                Assert.True(refusedBy == 1 ? d is QuantFormatException : d is null, $"{what}: DequantizeHqq gave {Describe(d)}");
            }
            var q = Record.Exception(() => UqffCodec.ReadQuantLayer(blob, out _));
            Assert.True(q is QuantFormatException, $"{what}: ReadQuantLayer gave {Describe(q)}");
        }

        static byte[] WithBias(byte[] blob, int length)
        {
            var copy = (byte[])blob.Clone();
            copy[5] = 1; // has_bias
            return new Blob().Raw(copy).Tensor(Blob.F32Code, [(uint)length], new byte[4 * length]).ToArray();
        }
    }

    /// <summary>A layer that dequantizes as floats but not as a format: the message says what to do instead.</summary>
    [Fact]
    public void RowStraddlingGroups_AreRefusedAsAMatrixButDequantize()
    {
        // [6, 32] in groups of 64: each group covers two rows (axis 1 on the flattened weight).
        var blob = Header(Blob.U8Code, [2, 64], [3, 1], [6, 32]);
        var e = Assert.Throws<QuantFormatException>(() => UqffCodec.ReadQuantLayer(blob, out _));
        Assert.Contains("straddle rows", e.Message, StringComparison.Ordinal);
        Assert.Equal(6 * 32, UqffCodec.DequantizeHqq(UqffCodec.ReadLayer(blob)).Length);
    }

    /// <summary>One to three random edits: byte overwrites, bit flips, insertions, deletions, u32 extremes, truncation.</summary>
    private static (byte[] Blob, string What) Mutate(SplitMix64 rng, byte[] blob)
    {
        var bytes = new List<byte>(blob);
        var what = new List<string>();
        int edits = 1 + rng.NextInt(3);
        for (int i = 0; i < edits; i++)
        {
            // Half the edits land in the header fields after the records (the last 20 bytes or so) or in the first 40.
            int at = bytes.Count == 0 ? 0 : rng.NextInt(3) switch
            {
                0 => rng.NextInt(Math.Min(40, bytes.Count)),
                1 => Math.Max(0, bytes.Count - 1 - rng.NextInt(Math.Min(40, bytes.Count))),
                _ => rng.NextInt(bytes.Count),
            };
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
                    int field = Math.Min(at, bytes.Count - 4);
                    uint[] extremes = [0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000];
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

    private static string Describe(Exception? e)
        => e is null ? "no exception" : $"{e.GetType().Name}: {e.Message} at {e.StackTrace?.Split('\n')[0].Trim()}";
}
