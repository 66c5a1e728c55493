using System;
using System.Linq;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;
using HqqOptimizer = Quant.Quantization.Hqq;

namespace Quant.Formats.Tests.Hqq;

/// <summary>
/// The RMSE of every HQQ format and rule on N(0, 1) and heavy-tailed weights (printed for the docs), next to the
/// min/max start the optimiser begins from; bounds that catch a broken optimiser or packing.
/// </summary>
public sealed class HqqRmseTests(ITestOutputHelper output)
{
    // On N(0, 1), groups of 64: min/max rounding gives about 1.65 / 0.45 / 0.19 / 0.090 / 0.0053 for 1 / 2 / 3 / 4 / 8 bits.
    private static double GaussianBound(int bits, int group) => bits switch
    {
        1 => 2.0,
        2 => 0.50,
        3 => 0.22,
        4 => 0.105,
        _ => 0.0065,
    } * (group == 128 ? 1.1 : 1.0);

    [Fact]
    public void HqqFormats_Rmse_OnGaussianAndHeavyTailedWeights()
    {
        const int rows = 64, cols = 4096;
        var gaussian = TestData.Matrix(new SplitMix64(4300), rows, cols, Dist.Gaussian);
        var heavy = TestData.Matrix(new SplitMix64(4301), rows, cols, Dist.HeavyTailed);
        output.WriteLine("format      bits/weight  distribution   min/max start  hqq            hqq_round_zeros");
        foreach (var entry in TestFormats.All.Where(e => e.Info.Uqff == UqffLayer.Hqq).OrderBy(e => e.Info.CodeBits).ThenBy(e => e.Info.BlockSize))
        {
            foreach (var (label, x) in new[] { ("N(0, 1)", gaussian), ("heavy-tailed", heavy) })
            {
                double start = StartRmse(x, entry.Info.CodeBits, entry.Info.BlockSize);
                var rmse = new double[entry.Info.Rules.Count];
                for (int rule = 0; rule < rmse.Length; rule++)
                {
                    var w = TestFormats.Dequantize(entry, TestFormats.Quantize(entry, x, rows, cols, rule));
                    rmse[rule] = Rmse(x, w);
                }
                output.WriteLine(FormattableString.Invariant($"{entry.Info.Name,-11} {entry.Info.BitsPerWeight,-12} {label,-14} {start,-14:F6} {string.Join(" ", rmse.Select(r => FormattableString.Invariant($"{r,-14:F6}")))}"));
                if (label == "N(0, 1)")
                {
                    double bound = GaussianBound(entry.Info.CodeBits, entry.Info.BlockSize);
                    Assert.True(rmse[entry.Info.DefaultRule] < bound, $"{entry.Info.Name}: RMSE {rmse[entry.Info.DefaultRule]} on N(0, 1), above {bound}");
                    Assert.True(rmse[entry.Info.DefaultRule] < start, $"{entry.Info.Name}: RMSE {rmse[entry.Info.DefaultRule]} on N(0, 1), not below the min/max start {start}");
                }
            }
        }
    }

    /// <summary>The RMSE of the optimiser's starting point (0 steps) for the same groups.</summary>
    private static double StartRmse(float[] x, int bits, int group)
    {
        var codes = new byte[group];
        double squares = 0;
        for (int g = 0; g < x.Length / group; g++)
        {
            var values = x.AsSpan(g * group, group);
            HqqOptimizer.QuantizeGroup(values, bits, 0, false, codes, out float scale, out float zero);
            for (int i = 0; i < group; i++)
            {
                double e = (codes[i] - zero) * scale - (double)values[i];
                squares += e * e;
            }
        }
        return Math.Sqrt(squares / x.Length);
    }

    private static double Rmse(float[] x, float[] y)
    {
        double squares = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double e = (double)y[i] - x[i];
            squares += e * e;
        }
        return Math.Sqrt(squares / x.Length);
    }
}
