using System.Collections.Generic;

namespace Quant.Ggml.Tests;

/// <summary>iq4_nl (ggml_quantize_chunk and, for *-rowref, quantize_row_iq4_nl_ref) and iq4_xs against ggml's blocks.</summary>
public sealed class Iq4PeerTests
{
    public static IEnumerable<object[]> Iq4_NlCases() => PeerVectors.CaseNames("iq4_nl");
    public static IEnumerable<object[]> Iq4_XsCases() => PeerVectors.CaseNames("iq4_xs");

    [Theory]
    [MemberData(nameof(Iq4_NlCases))]
    public void Iq4_Nl_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("iq4_nl", caseName);

    [Theory]
    [MemberData(nameof(Iq4_XsCases))]
    public void Iq4_Xs_Quantize_MatchesGgml(string caseName) => PeerCheck.AssertAllBlocksMatch("iq4_xs", caseName);
}
