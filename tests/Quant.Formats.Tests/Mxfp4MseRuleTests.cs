using System;
using System.Globalization;
using Quant.Formats.Tests.Support;
using Xunit.Abstractions;

namespace Quant.Formats.Tests;

/// <summary>
/// The error-minimising "mse" rule of mxfp4 and mxfp4_ggml: never a higher squared error than the default
/// "ocp" rule on any block, strictly lower on average on N(0, 1) and heavy-tailed data, and the least
/// error of the OCP exponent and its two neighbours. Errors are measured in float64 on floats decoded by
/// the test's own decoders. Also prints the RMSE of every rule for the docs.
/// </summary>
public sealed class Mxfp4MseRuleTests(ITestOutputHelper output)
{
    private const int BlockSize = 32;

    public static TheoryData<string, Dist, ulong> FormatsAndDists()
    {
        var data = new TheoryData<string, Dist, ulong>();
        ulong seed = 500;
        foreach (var format in new[] { "mxfp4", "mxfp4_ggml" })
        {
            foreach (var dist in TestData.AllDists) data.Add(format, dist, seed++);
        }
        return data;
    }

    [Theory, MemberData(nameof(FormatsAndDists))]
    public void MseRule_IsNeverWorseThanOcpOnAnyBlock(string format, Dist dist, ulong seed)
    {
        var rng = new SplitMix64(seed);
        const int rows = 32, cols = BlockSize * 32;
        var data = TestData.Matrix(rng, rows, cols, dist);
        var ocp = BlockErrors(format, "ocp", data, rows, cols);
        var mse = BlockErrors(format, "mse", data, rows, cols);
        int better = 0;
        for (int b = 0; b < ocp.Length; b++)
        {
            Assert.True(mse[b] <= ocp[b], string.Create(CultureInfo.InvariantCulture,
                $"seed {seed}, {format}, {dist}: block {b} (row {b / (cols / BlockSize)}) has squared error {mse[b]:R} under mse, above ocp's {ocp[b]:R}."));
            if (mse[b] < ocp[b]) better++;
        }
        output.WriteLine($"seed {seed}, {format}, {dist}: mse strictly better on {better} of {ocp.Length} blocks");
    }

    [Theory, MemberData(nameof(FormatsAndDists))]
    public void MseRule_PicksTheLeastErrorOfTheOcpExponentAndItsNeighbours(string format, Dist dist, ulong seed)
    {
        var rng = new SplitMix64(seed + 1000);
        const int rows = 8, cols = BlockSize * 32;
        var data = TestData.Matrix(rng, rows, cols, dist);
        var entry = TestFormats.Get(format);
        var q = TestFormats.Quantize(entry, data, rows, cols, entry.Info.FindRule("mse"));
        for (int r = 0; r < rows; r++)
        {
            var row = q.Row(r);
            for (int blk = 0; blk < cols / BlockSize; blk++)
            {
                var x = data.AsSpan(r * cols + blk * BlockSize, BlockSize);
                float amax = 0f;
                foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
                int center = amax > 0f ? (int)(MathF.Floor(MathF.Log2(amax)) - 2f + 127f) : 0;
                center = Math.Clamp(center, 0, 254);
                double best = double.PositiveInfinity;
                for (int e = Math.Max(0, center - 1); e <= Math.Min(254, center + 1); e++) best = Math.Min(best, GgmlReference.Mxfp4BlockError(x, e));

                int chosen = Exponent(format, row, blk);
                string where = $"seed {seed}, {format}, {dist}, row {r}, block {blk} (OCP exponent {center})";
                Assert.True(Math.Abs(chosen - center) <= 1, $"{where}: mse chose exponent {chosen}");
                double chosenError = GgmlReference.Mxfp4BlockError(x, chosen);
                Assert.True(chosenError == best, string.Create(CultureInfo.InvariantCulture, $"{where}: exponent {chosen} has error {chosenError:R}, the least is {best:R}"));
                if (GgmlReference.Mxfp4BlockError(x, center) == best) Assert.True(chosen == center, $"{where}: a tie must keep the OCP exponent, got {chosen}");

                // Its codes are the nearest codes for its exponent (ggml's best index).
                float d = GgmlReference.Mxfp4HalfScale(chosen);
                for (int j = 0; j < BlockSize; j++)
                {
                    int code = Code(format, row, blk, j);
                    Assert.True(GgmlReference.Mxfp4BestIndex(x[j], d) == code, $"{where}, element {j}: code {code}, the nearest is {GgmlReference.Mxfp4BestIndex(x[j], d)}");
                }
            }
        }
    }

    [Theory]
    [InlineData("mxfp4")]
    [InlineData("mxfp4_ggml")]
    public void MseRule_IsStrictlyBetterThanOcpOnAverage(string format)
    {
        foreach (var (dist, seed) in new[] { (Dist.Gaussian, 600UL), (Dist.HeavyTailed, 601UL) })
        {
            var rng = new SplitMix64(seed);
            const int rows = 64, cols = BlockSize * 32;
            var data = TestData.Matrix(rng, rows, cols, dist);
            double ocp = Sum(BlockErrors(format, "ocp", data, rows, cols));
            double mse = Sum(BlockErrors(format, "mse", data, rows, cols));
            Assert.True(mse < ocp, string.Create(CultureInfo.InvariantCulture, $"seed {seed}, {format}, {dist}: mse total squared error {mse:R} is not below ocp's {ocp:R}"));
        }
    }

    /// <summary>Prints the RMSE of each rule (the numbers the docs quote) and pins the order that justifies the default: mse &lt; ocp &lt; mistralrs.</summary>
    [Fact]
    public void Mxfp4Rules_Rmse_OrderIsMseThenOcpThenMistralRs()
    {
        const int rows = 256, cols = BlockSize * 32; // 8192 blocks, 262144 values per distribution
        output.WriteLine("format      distribution                 rule        RMSE            RMSE / RMS(x)");
        foreach (var (dist, seed, label) in new[] { (Dist.Gaussian, 700UL, "N(0,1)"), (Dist.HeavyTailed, 701UL, "Cauchy clipped to +-1e4") })
        {
            var data = TestData.Matrix(new SplitMix64(seed), rows, cols, dist);
            double rms = 0;
            foreach (float v in data) rms += (double)v * v;
            rms = Math.Sqrt(rms / data.Length);

            foreach (var format in new[] { "mxfp4", "mxfp4_ggml" })
            {
                var rules = format == "mxfp4" ? new[] { "ocp", "mistralrs", "mse" } : new[] { "ocp", "mse" };
                var rmse = new double[rules.Length];
                for (int i = 0; i < rules.Length; i++)
                {
                    rmse[i] = Math.Sqrt(Sum(BlockErrors(format, rules[i], data, rows, cols)) / data.Length);
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{format,-11} {label,-28} {rules[i],-11} {rmse[i],-15:G6} {rmse[i] / rms:G6}   (seed {seed})"));
                }
                Assert.True(rmse[^1] < rmse[0], $"{format}, {label}: mse RMSE {rmse[^1]} not below ocp {rmse[0]}");
                if (format == "mxfp4") Assert.True(rmse[0] < rmse[1], $"mxfp4, {label}: ocp RMSE {rmse[0]} not below mistralrs {rmse[1]}");
            }
        }
    }

    private static double Sum(double[] values)
    {
        double s = 0;
        foreach (double v in values) s += v;
        return s;
    }

    /// <summary>Squared error of every block, float64, from the test's own decoder of each layout.</summary>
    private static double[] BlockErrors(string format, string rule, float[] data, int rows, int cols)
    {
        var entry = TestFormats.Get(format);
        var q = TestFormats.Quantize(entry, data, rows, cols, entry.Info.FindRule(rule));
        int blocksPerRow = cols / BlockSize;
        var errors = new double[rows * blocksPerRow];
        for (int r = 0; r < rows; r++)
        {
            var row = q.Row(r);
            for (int blk = 0; blk < blocksPerRow; blk++)
            {
                int e = Exponent(format, row, blk);
                double sum = 0;
                for (int j = 0; j < BlockSize; j++)
                {
                    double diff = (double)Mxfp4Reference.Decode(Code(format, row, blk, j), e) - data[r * cols + blk * BlockSize + j];
                    sum += diff * diff;
                }
                errors[r * blocksPerRow + blk] = sum;
            }
        }
        return errors;
    }

    private static int Exponent(string format, QuantRow row, int block)
        => format == "mxfp4" ? row.Plane1[block] : row.Plane0[block * 17];

    private static int Code(string format, QuantRow row, int block, int j)
        => format == "mxfp4"
            ? Mxfp4Reference.CheckpointCode(row.Plane0, block * BlockSize + j)
            : Mxfp4Reference.GgmlCode(row.Plane0.Slice(block * 17, 17), j);
}
