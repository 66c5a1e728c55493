using System;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// Proves that the runtime knobs CI sets took effect: with <c>QUANT_EXPECT_SIMD</c> (scalar, 128, 256, 512)
/// set, <see cref="QuantSimd.Best"/> must be that level, so a run meant to test the Vector256 path (under
/// <c>DOTNET_EnableAVX512=0</c>) cannot silently test Vector512 again. On .NET 10
/// <c>DOTNET_EnableAVX512F=0</c> has no effect; <c>DOTNET_EnableAVX512=0</c> does.
/// </summary>
public sealed class SimdEnvironmentTests(ITestOutputHelper output)
{
    private static readonly string[] s_knobs =
        ["QUANT_EXPECT_SIMD", "QUANT_SIMD", "DOTNET_EnableHWIntrinsic", "DOTNET_EnableAVX512", "DOTNET_EnableAVX512F", "DOTNET_EnableAVX2", "DOTNET_EnableAVX"];

    [Fact]
    public void SimdLevel_MatchesQuantExpectSimd()
    {
        foreach (var knob in s_knobs) output.WriteLine($"{knob} = {Environment.GetEnvironmentVariable(knob) ?? "(not set)"}");
        output.WriteLine($"QuantSimd.Best = {QuantSimd.Best}, QuantSimd.Supported = {QuantSimd.Supported}, levels tested: {string.Join(", ", TestFormats.Levels)}");

        string? expected = Environment.GetEnvironmentVariable("QUANT_EXPECT_SIMD");
        if (string.IsNullOrWhiteSpace(expected))
        {
            output.WriteLine("QUANT_EXPECT_SIMD is not set: nothing to check (CI sets it on each of its runs).");
            return;
        }
        Assert.True(QuantSimd.TryParse(expected, out var level), $"QUANT_EXPECT_SIMD = '{expected}' is not one of scalar, 128, 256, 512.");
        Assert.True(QuantSimd.Best == level, $"QUANT_EXPECT_SIMD = {expected}, but QuantSimd.Best is {QuantSimd.Best}: the runtime knobs did not take effect.");
        // The sweeps test every level the runtime supports; without a QUANT_SIMD cap the expected level is the top of them.
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("QUANT_SIMD"))) Assert.Equal(level, TestFormats.Levels[^1]);
    }
}
