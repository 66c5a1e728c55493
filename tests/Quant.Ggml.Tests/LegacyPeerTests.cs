using System.Collections.Generic;

namespace Quant.Ggml.Tests;

/// <summary>q4_0, q5_0, q4_1, q5_1 against ggml's blocks: the weighted searches on the *-imatrix cases, the reference rules on the rest.</summary>
public sealed class LegacyPeerTests
{
    public static IEnumerable<object[]> Q4_0Cases() => PeerVectors.CaseNames("q4_0");
    public static IEnumerable<object[]> Q5_0Cases() => PeerVectors.CaseNames("q5_0");
    public static IEnumerable<object[]> Q4_1Cases() => PeerVectors.CaseNames("q4_1");
    public static IEnumerable<object[]> Q5_1Cases() => PeerVectors.CaseNames("q5_1");

    [Theory]
    [MemberData(nameof(Q4_0Cases))]
    public void Q4_0_QuantizeSignedMaxWeighted_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q4_0", caseName);

    [Theory]
    [MemberData(nameof(Q5_0Cases))]
    public void Q5_0_QuantizeSignedMaxWeighted_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q5_0", caseName);

    [Theory]
    [MemberData(nameof(Q4_1Cases))]
    public void Q4_1_QuantizeMinMaxWeighted_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q4_1", caseName);

    [Theory]
    [MemberData(nameof(Q5_1Cases))]
    public void Q5_1_QuantizeMinMaxWeighted_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("q5_1", caseName);
}
