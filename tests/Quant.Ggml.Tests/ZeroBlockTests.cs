using System;
using System.Collections.Generic;

namespace Quant.Ggml.Tests;

/// <summary>An all-zero block gives the values ggml stores for it (peer-vector README section 3, and ggml's zero-group paths).</summary>
public sealed class ZeroBlockTests
{
    private const float NegativeZero = -0f;

    /// <summary>type, with importance, expected d, dmin, code, scale code, min code (scale/min ignored where the type has none).</summary>
    public static IEnumerable<object[]> Expectations() =>
    [
        // Reference rules: d = max / -8 (or -16) is -0.0; codes sit at the zero level.
        ["q4_0", false, NegativeZero, 0f, 8, 0, 0],
        ["q5_0", false, NegativeZero, 0f, 16, 0, 0],
        ["q4_1", false, 0f, 0f, 0, 0, 0],
        ["q5_1", false, 0f, 0f, 0, 0, 0],
        // Weighted searches: make_qx_quants' all-zero group returns scale 0 and codes 0 (the most negative level).
        ["q4_0", true, 0f, 0f, 0, 0, 0],
        ["q5_0", true, 0f, 0f, 0, 0, 0],
        ["q4_1", true, 0f, 0f, 0, 0, 0],
        ["q5_1", true, 0f, 0f, 0, 0, 0],
        ["q2_K", false, 0f, 0f, 0, 0, 0],
        ["q2_K", true, 0f, 0f, 0, 0, 0],
        // q3_K: every scale byte 0, i.e. signed scale -32 with d = 0; codes 0 (level -4).
        ["q3_K", false, 0f, 0f, 0, 0, 0],
        ["q3_K", true, 0f, 0f, 0, 0, 0],
        ["q4_K", false, 0f, 0f, 0, 0, 0],
        ["q4_K", true, 0f, 0f, 0, 0, 0],
        ["q5_K", false, 0f, 0f, 0, 0, 0],
        ["q5_K", true, 0f, 0f, 0, 0, 0],
        // q6_K: the whole block is zero bytes.
        ["q6_K", false, 0f, 0f, 0, 0, 0],
        ["q6_K", true, 0f, 0f, 0, 0, 0],
        ["q8_K", false, 0f, 0f, 0, 0, 0],
        // iq4: code 8 is the codebook entry 1, the nearest to 0; iq4_xs' d = -0 / 32 keeps its sign.
        ["iq4_nl", false, 0f, 0f, 8, 0, 0],
        ["iq4_nl", true, 0f, 0f, 8, 0, 0],
        ["iq4_xs", false, NegativeZero, 0f, 8, 32, 0],
        ["iq4_xs", true, NegativeZero, 0f, 8, 32, 0],
    ];

    [Theory]
    [MemberData(nameof(Expectations))]
    public void Quantize_AllZeroBlock_GivesGgmlsZeroBlock(string type, bool withImportance, float d, float dmin, int code, int scale, int min)
    {
        int n = TestData.BlockSize(type);
        var x = new float[n];
        float[] importance = withImportance ? LogNormalish(n) : [];
        LogicalBlock b = Quantizers.Quantize(type, x, importance, x);
        Assert.Equal(BitConverter.SingleToUInt32Bits(d), BitConverter.SingleToUInt32Bits(b.D));
        Assert.Equal(BitConverter.SingleToUInt32Bits(dmin), BitConverter.SingleToUInt32Bits(b.Dmin));
        Assert.All(b.Codes, c => Assert.Equal(code, c));
        Assert.All(b.Scales, s => Assert.Equal(scale, s));
        Assert.All(b.Mins, m => Assert.Equal(min, m));
    }

    [Fact]
    public void Iq4_NlRowRef_AllZeroBlock_GivesZeroScaleAndTheZeroEntry()
    {
        var x = new float[32];
        LogicalBlock b = Quantizers.Quantize("iq4_nl", x, [], x, rowRef: true);
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(b.D));
        // ggml leaves these nibbles unset; the library writes 8, as the chunk variant stores.
        Assert.All(b.Codes, c => Assert.Equal(8, c));
    }

    [Fact]
    public void PeerVectors_EdgeCase_HoldsAllZero32ValueBlocksButNoAllZeroSuperBlock()
    {
        // Pattern 0 (all zeros) falls on 32-value chunks of rows 0-3, so the peer tests pin the zero paths
        // of the 32-value formats. The running pattern index reaches rows 4-7 at 64 (64 mod 12 = 4), so
        // their super-blocks only see patterns 4..11: the zero super-block is pinned by the theory above.
        PeerCase edge = PeerVectors.Load("q4_K", "edge");
        Assert.All(edge.Row(0)[..32].ToArray(), v => Assert.Equal(0f, v));
        for (int row = 4; row < 8; row++)
        {
            for (int block = 0; block < 2; block++) Assert.Contains(edge.BlockValues(row, block).ToArray(), v => v != 0f);
        }
    }

    private static float[] LogNormalish(int n)
    {
        var w = new float[n];
        for (int i = 0; i < n; i++) w[i] = 0.5f + i % 7;
        return w;
    }
}
