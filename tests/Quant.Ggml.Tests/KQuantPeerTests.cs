using System.Collections.Generic;

namespace Quant.Ggml.Tests;

/// <summary>The K-quants and q8_K against ggml's blocks, every case: quantize_row_X_ref without an imatrix, quantize_row_X_impl with one.</summary>
public sealed class KQuantPeerTests
{
    public static IEnumerable<object[]> Q2_KCases() => PeerVectors.CaseNames("q2_K");
    public static IEnumerable<object[]> Q3_KCases() => PeerVectors.CaseNames("q3_K");
    public static IEnumerable<object[]> Q4_KCases() => PeerVectors.CaseNames("q4_K");
    public static IEnumerable<object[]> Q5_KCases() => PeerVectors.CaseNames("q5_K");
    public static IEnumerable<object[]> Q6_KCases() => PeerVectors.CaseNames("q6_K");
    public static IEnumerable<object[]> Q8_KCases() => PeerVectors.CaseNames("q8_K");

    [Theory]
    [MemberData(nameof(Q2_KCases))]
    public void Q2_K_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q2_K", caseName);

    [Theory]
    [MemberData(nameof(Q3_KCases))]
    public void Q3_K_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q3_K", caseName);

    [Theory]
    [MemberData(nameof(Q4_KCases))]
    public void Q4_K_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q4_K", caseName);

    [Theory]
    [MemberData(nameof(Q5_KCases))]
    public void Q5_K_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q5_K", caseName);

    [Theory]
    [MemberData(nameof(Q6_KCases))]
    public void Q6_K_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q6_K", caseName);

    [Theory]
    [MemberData(nameof(Q8_KCases))]
    public void Q8_K_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q8_K", caseName);
}
