using System.Collections.Generic;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// The registry this assembly tests holds the built-in formats. Every SIMD path of every registered format
/// against its scalar path (dequantize bit for bit over whole rows and block sub-ranges, the fused row dot
/// against float64) is part of the conformance suite, Conformance/FormatConformance.cs.
/// </summary>
public sealed class SimdLevelTests(ITestOutputHelper output)
{
    [Fact]
    public void Registry_HoldsTheBuiltInFormats()
    {
        var names = new List<string>();
        foreach (var entry in TestFormats.All) names.Add(entry.Info.Name);
        foreach (var expected in new[] { "mxfp4", "mxfp4_ggml", "q4_0", "q8_0" }) Assert.Contains(expected, names);
        output.WriteLine($"registered: {string.Join(", ", names)}; SIMD levels here: {string.Join(", ", TestFormats.Levels)}");
    }
}
