using System;
using Quant.Formats.Tests.Support;

namespace Quant.Formats.Tests;

/// <summary>
/// ggml's rules on data ggml never saw: the block codecs of <see cref="GgmlReference"/> are first pinned
/// to ggml's own files, then the library must agree with them on fresh seeds, every distribution, crafted
/// ties, and (for the dequantizers) every possible byte pattern, at every SIMD level.
/// </summary>
public sealed class GgmlReferenceTests
{
    private sealed record Codec(string Ggml, string Format, int RecordSize, GgmlReference.BlockQuantizer Quantize, GgmlReference.BlockCodec Dequantize);

    private static readonly Codec[] s_codecs =
    [
        new("q4_0", "q4_0", 18, GgmlReference.Q4_0QuantizeBlock, GgmlReference.Q4_0DequantizeBlock),
        new("q8_0", "q8_0", 34, GgmlReference.Q8_0QuantizeBlock, GgmlReference.Q8_0DequantizeBlock),
        new("mxfp4", "mxfp4_ggml", 17, GgmlReference.Mxfp4QuantizeBlock, GgmlReference.Mxfp4DequantizeBlock),
    ];

    public static TheoryData<string> GgmlTypes() => new() { "q4_0", "q8_0", "mxfp4" };

    public static TheoryData<string, ulong, Dist> FreshData()
    {
        var data = new TheoryData<string, ulong, Dist>();
        ulong seed = 400;
        foreach (var codec in s_codecs)
        {
            foreach (var dist in TestData.AllDists) data.Add(codec.Ggml, seed++, dist);
            data.Add(codec.Ggml, seed++, Dist.Mixed);
            data.Add(codec.Ggml, seed++, Dist.Mixed);
        }
        return data;
    }

    private static Codec Of(string ggml) => Array.Find(s_codecs, c => c.Ggml == ggml)!;

    [Theory, MemberData(nameof(GgmlTypes))]
    public void GgmlReference_ReproducesGgmlPeerVectors(string ggmlType)
    {
        var codec = Of(ggmlType);
        foreach (var name in PeerCase.CaseNames(ggmlType))
        {
            var peer = new PeerCase(ggmlType, name);
            Assert.Equal(codec.RecordSize, peer.TypeSize);
            var quant = peer.Bytes("quant.bin");
            Check.BytesEqual(quant, GgmlReference.QuantizeAll(codec.Quantize, peer.Floats("input.f32"), codec.RecordSize), $"{peer}: test's reference quantizer", codec.RecordSize);
            Check.BitsEqual(peer.Floats("dequant.f32"), GgmlReference.DequantizeAll(codec.Dequantize, quant, codec.RecordSize), $"{peer}: test's reference dequantizer", peer.Cols);
        }
    }

    [Theory, MemberData(nameof(FreshData))]
    public void Quantize_FreshData_MatchesGgmlRule(string ggmlType, ulong seed, Dist dist)
    {
        var codec = Of(ggmlType);
        var entry = TestFormats.Get(codec.Format);
        var rng = new SplitMix64(seed);
        const int rows = 7, cols = 32 * 45;
        var data = TestData.Matrix(rng, rows, cols, dist);
        var expected = GgmlReference.QuantizeAll(codec.Quantize, data, codec.RecordSize);
        var actual = TestFormats.Quantize(entry, data, rows, cols);
        Check.BytesEqual(expected, actual.Plane(0).Span, $"seed {seed}, {dist}: {codec.Format} vs ggml's {ggmlType} rule", codec.RecordSize);
    }

    [Fact]
    public void Quantize_CraftedTiesAndEdges_MatchGgmlRule()
    {
        var rng = new SplitMix64(450);
        var blocks = new System.Collections.Generic.List<float>();
        foreach (TestData.ChunkKind kind in Enum.GetValues<TestData.ChunkKind>())
        {
            for (int repeat = 0; repeat < 4; repeat++)
            {
                var chunk = new float[32];
                TestData.FillChunk(rng, chunk, kind);
                blocks.AddRange(chunk);
            }
        }
        // Just below a power of two: log2f rounds up to the power, so ggml's exponent is one above the exact floor.
        var belowPower = new float[32];
        belowPower[0] = MathF.BitDecrement(8f);
        belowPower[1] = -3.9999998f;
        blocks.AddRange(belowPower);
        var data = blocks.ToArray();
        foreach (var codec in s_codecs)
        {
            var entry = TestFormats.Get(codec.Format);
            var expected = GgmlReference.QuantizeAll(codec.Quantize, data, codec.RecordSize);
            var actual = TestFormats.Quantize(entry, data, 1, data.Length);
            Check.BytesEqual(expected, actual.Plane(0).Span, $"crafted blocks: {codec.Format} vs ggml's {codec.Ggml} rule", codec.RecordSize);
        }
        Assert.Equal(128, GgmlReference.Mxfp4Exponent(MathF.BitDecrement(8f))); // floor(log2f(7.9999995)) is 3: log2f rounds to 3.0
    }

    /// <summary>
    /// For amax below 2^-125, ggml's (uint8_t) cast of a negative exponent is undefined behaviour in C; on
    /// x86-64 (where the peer vectors were made) it wraps, so 2^-126 gives e = 255. The library reproduces
    /// the x86 result. Pinned so that a change is a decision, not an accident.
    /// </summary>
    [Fact]
    public void Mxfp4Ggml_Quantize_AmaxBelowTwoToMinus125_WrapsExponentLikeGgmlOnX86()
    {
        var blocks = new System.Collections.Generic.List<float>();
        float[] magnitudes = [MathF.ScaleB(1f, -126), MathF.ScaleB(1.5f, -127), 1e-40f, 1e-45f, MathF.ScaleB(1f, -125), MathF.ScaleB(1f, -124)];
        foreach (float m in magnitudes)
        {
            var chunk = new float[32];
            chunk[3] = m;
            chunk[9] = -m / 2;
            blocks.AddRange(chunk);
        }
        var data = blocks.ToArray();
        var entry = TestFormats.Get("mxfp4_ggml");
        var expected = GgmlReference.QuantizeAll(GgmlReference.Mxfp4QuantizeBlock, data, 17);
        var actual = TestFormats.Quantize(entry, data, 1, data.Length);
        Check.BytesEqual(expected, actual.Plane(0).Span, "mxfp4_ggml, amax near and below 2^-125", 17);
        Assert.Equal(new byte[] { 255, 254, 248, 232, 0, 1 }, new[] { actual.Plane(0).Span[0], actual.Plane(0).Span[17], actual.Plane(0).Span[34], actual.Plane(0).Span[51], actual.Plane(0).Span[68], actual.Plane(0).Span[85] });
    }

    /// <summary>Every byte pattern (any F16 scale, subnormal, inf or NaN; any E8M0 exponent; any code) decodes as ggml's dequantizer does, at every level.</summary>
    [Theory, MemberData(nameof(GgmlTypes))]
    public void Dequantize_RandomBlocks_MatchGgmlDequantizerAtEveryLevel(string ggmlType)
    {
        var codec = Of(ggmlType);
        var entry = TestFormats.Get(codec.Format);
        foreach (ulong seed in new ulong[] { 460, 461, 462 })
        {
            var rng = new SplitMix64(seed);
            const int rows = 5, cols = 32 * 41;
            var matrix = TestFormats.RandomBytes(entry, rows, cols, rng);
            var expected = GgmlReference.DequantizeAll(codec.Dequantize, matrix.Plane(0).Span, codec.RecordSize);
            foreach (var level in TestFormats.Levels)
            {
                Check.BitsEqual(expected, TestFormats.Dequantize(entry, matrix, level), $"seed {seed}: {codec.Format} random blocks at {level}", cols);
            }
        }
    }

    /// <summary>
    /// ggml's mxfp4 table is integers, so nibble 8 decodes as 0 * d = +0.0 (never -0.0), at every level:
    /// the bit-for-bit contract of mxfp4_ggml covers blocks ggml's own quantizer never writes.
    /// </summary>
    [Fact]
    public void Mxfp4Ggml_Dequantize_NibbleEight_IsPositiveZeroAsInGgml()
    {
        var entry = TestFormats.Get("mxfp4_ggml");
        var matrix = new QuantMatrix(entry.Info, 1, 32);
        var record = matrix.Plane(0).Span;
        record[0] = 127;
        record.Slice(1).Fill(0x88);
        foreach (var level in TestFormats.Levels)
        {
            var values = TestFormats.Dequantize(entry, matrix, level);
            for (int i = 0; i < 32; i++)
            {
                Assert.True(Check.SameBits(0f, values[i]), $"mxfp4_ggml nibble 8 at {level}, element {i}: got {Check.Show(values[i])}, ggml gives +0.0");
            }
        }
    }
}
