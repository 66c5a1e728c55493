using System;
using System.Linq;

namespace Quant.Cli.Tests;

/// <summary><c>quant demo</c> on a small layer: it runs, and its table has a row per format plus float32.</summary>
public sealed class DemoTests
{
    [Theory]
    [InlineData("1")]
    [InlineData("0")]
    public void Demo_SmallShape_PrintsARowPerFormat(string threads)
    {
        var result = CliRunner.Ok("demo", "--rows", "64", "--cols", "256", "--threads", threads, "--seed", "3");

        Assert.DoesNotContain('\u001b', result.Out);
        string[] lines = result.Out.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("CPU:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("W [64, 256]", StringComparison.Ordinal));
        Assert.Single(lines, l => l.StartsWith("| float32 ", StringComparison.Ordinal));
        foreach (var entry in QuantFormatRegistry.All)
        {
            string row = Assert.Single(lines, l => l.StartsWith($"| {entry.Info.Name} ", StringComparison.Ordinal));
            // format, bits/weight, RMSE, quantize, GEMV, runs, GB/s, ratio: every cell filled.
            string[] cells = row.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(8, cells.Length);
            Assert.EndsWith("x", cells[7], StringComparison.Ordinal);
            double rmse = double.Parse(cells[2], System.Globalization.CultureInfo.InvariantCulture);
            // Codes of 2 to 16 bits on N(0, 1) weights: some error (f16's is about 2e-4), and well under the
            // weights' own RMS of 1 (2-bit formats reach about 0.4; plain min-max rounding in groups of 128,
            // gptq2_g128's only rule, about 0.5). 1-bit codes (HQQ) keep only two values per group, near its
            // min and max, so their error is above the weights' RMS (1.3 to 1.9).
            Assert.InRange(rmse, 1e-5, entry.Info.CodeBits == 1 ? 2.0 : 0.55);
        }
    }

    [Fact]
    public void Demo_ColumnsNotAMultipleOfABlock_MarksTheFormatSkipped()
    {
        var result = CliRunner.Ok("demo", "--rows", "8", "--cols", "48", "--threads", "1");

        foreach (var entry in QuantFormatRegistry.All.Where(e => 48 % e.Info.BlockSize != 0))
        {
            string row = Assert.Single(result.Out.Split('\n'), l => l.StartsWith($"| {entry.Info.Name} ", StringComparison.Ordinal));
            Assert.Contains("skipped", row, StringComparison.Ordinal);
        }
    }
}
