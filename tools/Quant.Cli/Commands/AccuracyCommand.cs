using System;
using System.CommandLine;
using System.Globalization;
using System.Linq;
using System.Text;
using Quant.Cli.Demo;
using Quant.Kernels;
using Spectre.Console;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant accuracy</c>: the round-trip RMSE of every format under its default rule and its error-minimising rule
/// (<c>mse</c>, where the format has one), on N(0, 1) weights and on heavy-tailed ones (Student's t with 3 degrees of
/// freedom), from seeded data: the figures docs/FORMATS.md quotes.
/// </summary>
internal static class AccuracyCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var rows = new Option<int>("--rows", "-n") { Description = "Rows of each weight.", HelpName = "N", DefaultValueFactory = _ => 128 };
        var columns = new Option<int>("--cols", "-k") { Description = "Columns of each weight.", HelpName = "K", DefaultValueFactory = _ => 4096 };
        var seed = new Option<ulong>("--seed", "-s") { Description = "Seed of the weights.", HelpName = "S", DefaultValueFactory = _ => 11UL };
        var markdown = new Option<bool>("--markdown") { Description = "Print a Markdown table." };
        var format = new Option<string?>("--format", "-f") { Description = "Only this format.", HelpName = "F" };
        var command = new Command("accuracy", "Round-trip RMSE of every format, default rule and error-minimising rule, on gaussian and heavy-tailed weights.");
        foreach (var o in new Option[] { rows, columns, seed, markdown, format }) command.Options.Add(o);
        command.SetAction(parse => context.Guard(() =>
        {
            int n = parse.GetValue(rows), k = parse.GetValue(columns);
            CommonOptions.CheckPositive("--rows", n);
            CommonOptions.CheckPositive("--cols", k);
            ulong s = parse.GetValue(seed);
            var gaussian = new float[(long)n * k];
            Gaussian.Fill(gaussian, n, k, s);
            var heavy = StudentT3(n, k, s);
            var entries = QuantFormatRegistry.All.Where(e => parse.GetValue(format) is not { } f || e.Info.Name == f).ToArray();
            if (entries.Length == 0) throw CliException.Usage($"unknown format '{parse.GetValue(format)}'; see 'quant formats'.");
            var lines = entries.Select(e => Measure(e, gaussian, heavy, n, k)).ToArray();
            string title = Text($"round-trip RMSE, W [{n}, {k}], seed {s}: N(0, 1) weights (RMS 1) and Student-t(3) weights (RMS ~1.7); '-' where the format has no such rule or the shape does not fit");
            if (parse.GetValue(markdown))
            {
                var text = new StringBuilder();
                text.Append(title).Append("\n\n| format | bits/w | default rule | N(0,1) default | N(0,1) mse | t(3) default | t(3) mse |\n|---|---:|---|---:|---:|---:|---:|\n");
                foreach (var l in lines) text.Append(Text($"| `{l.Name}` | {l.Bits:0.###} | {l.Rule} | {Cell(l.GaussDefault)} | {Cell(l.GaussMse)} | {Cell(l.HeavyDefault)} | {Cell(l.HeavyMse)} |\n"));
                context.Out.Write(text.ToString());
            }
            else
            {
                var console = context.CreateConsole();
                console.WriteLine(title);
                var table = new Table().Border(context.TableBorder);
                foreach (var c in new[] { "format", "bits/w", "default rule", "N(0,1) default", "N(0,1) mse", "t(3) default", "t(3) mse" }) table.AddColumn(c);
                foreach (var l in lines)
                    table.AddRow(new Text(l.Name), new Text(Text($"{l.Bits:0.###}")), new Text(l.Rule), new Text(Cell(l.GaussDefault)), new Text(Cell(l.GaussMse)), new Text(Cell(l.HeavyDefault)), new Text(Cell(l.HeavyMse)));
                console.Write(table);
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private sealed record Line(string Name, double Bits, string Rule, double GaussDefault, double GaussMse, double HeavyDefault, double HeavyMse);

    private static Line Measure(QuantFormatEntry entry, float[] gaussian, float[] heavy, int n, int k)
    {
        var info = entry.Info;
        string rule = info.Rules[info.DefaultRule].Name;
        if (k % info.BlockSize != 0) return new Line(info.Name, info.BitsPerWeight, rule, double.NaN, double.NaN, double.NaN, double.NaN);
        var kernels = FormatKernels.For(entry);
        int mse = Enumerable.Range(0, info.Rules.Count).FirstOrDefault(i => info.Rules[i].Name == "mse", -1);
        double Rmse(float[] data, int r)
        {
            var matrix = kernels.Quantize(data, n, k, r);
            var back = new float[data.Length];
            kernels.Dequantize(matrix, back);
            double sum = 0;
            for (long i = 0; i < data.Length; i++) sum += ((double)back[i] - data[i]) * ((double)back[i] - data[i]);
            return Math.Sqrt(sum / data.Length);
        }
        return new Line(info.Name, info.BitsPerWeight, rule, Rmse(gaussian, -1), mse < 0 ? double.NaN : Rmse(gaussian, mse), Rmse(heavy, -1), mse < 0 ? double.NaN : Rmse(heavy, mse));
    }

    // t(3) = Z / sqrt(chi2(3) / 3), chi2(3) the sum of three more squared normals: heavy tails, finite variance (3).
    private static float[] StudentT3(int n, int k, ulong seed)
    {
        var z = new float[(long)n * k];
        Gaussian.Fill(z, n, k, seed ^ 0x7E57);
        var chi = new float[(long)n * k * 3];
        Gaussian.Fill(chi, n, k * 3, seed ^ 0xC415);
        var t = new float[z.Length];
        for (long i = 0; i < t.Length; i++)
        {
            double c = (double)chi[3 * i] * chi[3 * i] + (double)chi[3 * i + 1] * chi[3 * i + 1] + (double)chi[3 * i + 2] * chi[3 * i + 2];
            t[i] = (float)(z[i] / Math.Sqrt(c / 3));
        }
        return t;
    }

    private static string Cell(double value) => double.IsNaN(value) ? "-" : value.ToString("G4", CultureInfo.InvariantCulture);

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
