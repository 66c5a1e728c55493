using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading.Tasks;
using Quant.Kernels;
using Quant.Runtime;
using Quant.Runtime.OpenCl;

namespace Quant.Cli.Commands;

/// <summary>
/// <c>quant bench</c>: benchmarks. <c>bench gpu</c> times the generated device kernels (GEMV at batch 1, tiled GEMM at larger
/// batches) against the device's own copy bandwidth, measured in the same run. Further subcommands (a CPU bench) belong
/// beside it in this group.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Builds <c>bench</c> and its subcommands.</summary>
    public static Command Create(CliContext context)
    {
        var bench = new Command("bench", "Benchmarks of the generated kernels.");
        bench.Subcommands.Add(Gpu(context));
        return bench;
    }

    private static Command Gpu(CliContext context)
    {
        var backend = new Option<string>("--backend") { Description = "The device backend.", HelpName = "opencl", DefaultValueFactory = _ => "opencl" };
        backend.AcceptOnlyFromAmong("opencl");
        var device = CommonOptions.Device();
        var formats = new Option<string>("--format", "-f")
        {
            Description = "Formats to time, comma-separated (f16 is the dense FP16 baseline through the same kernels).",
            HelpName = "names",
            Required = true,
        };
        var rows = new Option<int>("--rows", "-n") { Description = "Rows of the weight (M, outputs).", HelpName = "M", DefaultValueFactory = _ => 28672 };
        var columns = new Option<int>("--cols", "-k") { Description = "Columns of the weight (K, inputs).", HelpName = "K", DefaultValueFactory = _ => 8192 };
        var batches = new Option<string>("--batch", "-b")
        {
            Description = "Activation rows, comma-separated: 1 runs the GEMV, more than 8 the tiled GEMM.",
            HelpName = "N",
            DefaultValueFactory = _ => "1",
        };
        var iterations = new Option<int>("--iterations", "-i") { Description = "Timed runs of each kernel (the median is reported).", HelpName = "I", DefaultValueFactory = _ => 30 };
        var rotate = new Option<int>("--rotate")
        {
            Description = "Copies of each weight on the device, used in turn, so that the L2 cache cannot serve the next run.",
            HelpName = "R",
            DefaultValueFactory = _ => 3,
        };
        var unique = new Option<int>("--unique-rows")
        {
            Description = "Rows actually quantized (seeded gaussian weights); the weight repeats them to M rows, which saves quantization time.",
            HelpName = "U",
            DefaultValueFactory = _ => 2048,
        };
        var verbose = new Option<bool>("--verbose") { Description = "Also print each program's build log lines about registers, spills and local memory." };
        var copyMb = new Option<int>("--copy-mb") { Description = "MiB per device-to-device copy for the copy bandwidth.", HelpName = "MB", DefaultValueFactory = _ => 1024 };
        var command = new Command("gpu", "Times GEMV / GEMM of formats on the device, with the device's copy bandwidth measured in the same run.");
        foreach (var option in new Option[] { backend, device, formats, rows, columns, batches, iterations, rotate, unique, copyMb, verbose }) command.Options.Add(option);
        command.SetAction(parse => context.Guard(() =>
        {
            var names = Split(parse.GetValue(formats), "--format");
            var batchList = Split(parse.GetValue(batches), "--batch").Select(b => Positive("--batch", b)).ToList();
            int m = parse.GetValue(rows), k = parse.GetValue(columns), runs = parse.GetValue(iterations), copies = parse.GetValue(rotate);
            CommonOptions.CheckPositive("--rows", m);
            CommonOptions.CheckPositive("--cols", k);
            CommonOptions.CheckPositive("--iterations", runs);
            CommonOptions.CheckPositive("--rotate", copies);
            CommonOptions.CheckPositive("--copy-mb", parse.GetValue(copyMb));
            int uniqueRows = Math.Min(m, parse.GetValue(unique));
            CommonOptions.CheckPositive("--unique-rows", uniqueRows);
            var kernels = names.Select(CommonOptions.ResolveFormat).ToList();
            foreach (var f in kernels) CommonOptions.CheckColumns(f.Info, k);

            var opencl = Open(parse.GetValue(device));
            var dev = opencl.Device;
            context.Out.WriteLine(Text($"device: {dev.FullName} ({dev.Version}; driver {dev.DriverVersion}; {dev.ComputeUnits} compute units, {dev.GlobalMemoryBytes / (1 << 20)} MiB)"));
            if (parse.GetValue(verbose)) context.Out.WriteLine("extensions: " + dev.Extensions);
            double copyBandwidth = CopyBandwidth(opencl, (long)parse.GetValue(copyMb) << 20, runs);
            context.Out.WriteLine(Text($"copy bandwidth: {copyBandwidth / 1e9:0.0} GB/s (clEnqueueCopyBuffer of {parse.GetValue(copyMb)} MiB, bytes read + written, median of {runs})"));
            context.Out.WriteLine(Text($"shape: W [{m}, {k}] ({uniqueRows} distinct quantized rows, {copies} copies rotated), x [batch, {k}], median of {runs} runs timed by device events"));
            context.Out.WriteLine();
            context.Out.WriteLine("format       bits/w  batch  kernel  time_us      weight_GB/s  %copy   GFLOP/s    max_err/sum|wx|");
            foreach (var format in kernels)
            {
                foreach (var line in TimeFormat(opencl, format, m, k, uniqueRows, copies, batchList, runs, copyBandwidth, parse.GetValue(verbose))) context.Out.WriteLine(line);
                context.Out.Flush();
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static OpenClContext Open(string? device)
    {
        try
        {
            return OpenClContext.Shared(device);
        }
        catch (ArgumentException e)
        {
            throw CliException.Usage("--device: " + e.Message);
        }
        catch (OpenClException e)
        {
            throw CliException.Failure("OpenCL: " + e.Message, e);
        }
    }

    /// <summary>Bytes read plus bytes written per second by a device-to-device copy.</summary>
    private static double CopyBandwidth(OpenClContext opencl, long bytes, int runs)
    {
        using var source = opencl.Allocate(bytes);
        using var destination = opencl.Allocate(bytes);
        for (int i = 0; i < 3; i++) opencl.Copy(source, destination, bytes).Dispose();
        var times = new List<long>();
        for (int i = 0; i < runs; i++)
        {
            using var copy = opencl.Copy(source, destination, bytes);
            times.Add(copy.ElapsedNanoseconds);
        }
        return 2.0 * bytes / (Median(times) * 1e-9);
    }

    private static IEnumerable<string> TimeFormat(OpenClContext opencl, FormatKernels format, int m, int k, int uniqueRows, int copies,
        List<int> batches, int runs, double copyBandwidth, bool verbose)
    {
        var info = format.Info;
        // Whole tiles repeat, so that a 2-D tile format's scales stay those of its rows.
        uniqueRows = Math.Max(1, uniqueRows / info.TileRows) * info.TileRows;
        uniqueRows = Math.Min(uniqueRows, m);
        var weights = Gaussian(1, (long)uniqueRows * k);
        var distinct = format.Quantize(weights, uniqueRows, k);
        var matrix = Repeat(distinct, m);
        var placed = new List<OpenClQuantMatrix>();
        try
        {
            for (int c = 0; c < copies; c++) placed.Add(new OpenClQuantMatrix(opencl, matrix));
            if (verbose)
            {
                yield return Text($"# {info.Name}: {placed[0].RowsPerGroup} rows per GEMV work-group, {(placed[0].StreamingGemv ? "streaming" : "staged")} GEMV, program built in {placed[0].Program.BuildSeconds:0.00} s");
                foreach (var line in placed[0].Program.BuildLog.Split('\n'))
                {
                    if (line.Contains("registers", StringComparison.Ordinal) || line.Contains("spill", StringComparison.Ordinal) || line.Contains("Compiling entry", StringComparison.Ordinal))
                    {
                        yield return "#   " + line.Trim();
                    }
                }
            }
            foreach (int batch in batches)
            {
                var x = Gaussian(2, (long)batch * k);
                using var xs = opencl.Upload<float>(x);
                using var ys = opencl.Allocate((long)batch * m * sizeof(float));
                for (int i = 0; i < 2 * copies; i++) placed[i % copies].EnqueueMatMul(xs, batch, ys).Dispose();
                var times = new List<long>();
                for (int i = 0; i < runs; i++)
                {
                    using var run = placed[i % copies].EnqueueMatMul(xs, batch, ys);
                    times.Add(run.ElapsedNanoseconds);
                }
                double seconds = Median(times) * 1e-9;
                double error = SpotCheck(format, distinct, x, ys, k, m, Math.Min(uniqueRows, 16));
                string kernel = batch > OpenClQuantMatrix.GemvBatchLimit ? "gemm" : placed[0].StreamingGemv ? "gemv-s" : "gemv";
                double bandwidth = matrix.Bytes / seconds, flops = 2.0 * m * k * batch / seconds;
                yield return Text($"{info.Name,-12} {info.BitsPerWeight,6:0.00} {batch,6}  {kernel,-6} {seconds * 1e6,10:0.0} {bandwidth / 1e9,14:0.0} {100 * bandwidth / copyBandwidth,6:0.0} {flops / 1e9,10:0.0}    {error:E1}");
            }
        }
        finally
        {
            foreach (var p in placed) p.Dispose();
        }
    }

    /// <summary>The largest |y - float64 reference| / sum |w x| over the first rows of the first activation row (a sanity check of what was timed).</summary>
    private static double SpotCheck(FormatKernels format, QuantMatrix distinct, float[] x, OpenClBuffer ys, int k, int m, int rows)
    {
        var y = new float[rows];
        ys.Read<float>(y);
        var w = new float[k];
        double worst = 0;
        for (int r = 0; r < rows; r++)
        {
            format.Dequantize(Slice(distinct, r), w, threads: 1);
            double dot = 0, abs = 0;
            for (int i = 0; i < k; i++)
            {
                double p = (double)w[i] * x[i];
                dot += p;
                abs += Math.Abs(p);
            }
            worst = Math.Max(worst, Math.Abs(y[r] - dot) / Math.Max(abs, double.Epsilon));
        }
        return worst;
    }

    /// <summary>Row <paramref name="row"/> of a matrix as a one-row matrix (per-tensor and tile planes as that row sees them).</summary>
    private static QuantMatrix Slice(QuantMatrix matrix, int row)
    {
        var source = matrix.Row(row);
        var planes = new Memory<byte>[matrix.Format.Planes.Count];
        for (int p = 0; p < planes.Length; p++) planes[p] = source[p].ToArray();
        return new QuantMatrix(matrix.Format, 1, matrix.Columns, planes);
    }

    /// <summary>The matrix's rows repeated to <paramref name="rows"/> rows (its tile rows with them; one tensor value).</summary>
    private static QuantMatrix Repeat(QuantMatrix distinct, int rows)
    {
        var info = distinct.Format;
        var planes = new Memory<byte>[info.Planes.Count];
        for (int p = 0; p < planes.Length; p++)
        {
            var from = distinct.Plane(p).Span;
            var to = new byte[info.PlaneBytes(p, rows, distinct.Columns)];
            if (info.Planes[p].Extent == PlaneExtent.Tensor) from.CopyTo(to);
            else for (int at = 0; at < to.Length; at += from.Length) from.Slice(0, Math.Min(from.Length, to.Length - at)).CopyTo(to.AsSpan(at));
            planes[p] = to;
        }
        return new QuantMatrix(info, rows, distinct.Columns, planes);
    }

    private static float[] Gaussian(int seed, long count)
    {
        var values = new float[count];
        const int Piece = 1 << 20;
        Parallel.For(0, (int)((count + Piece - 1) / Piece), piece =>
        {
            var random = new Random(seed * 1_000_003 + piece);
            int start = piece * Piece, end = (int)Math.Min(count, start + (long)Piece);
            for (int i = start; i < end; i++)
            {
                double u = 1.0 - random.NextDouble(), v = random.NextDouble();
                values[i] = (float)(Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v));
            }
        });
        return values;
    }

    private static double Median(List<long> values)
    {
        values.Sort();
        int n = values.Count;
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
    }

    private static List<string> Split(string? list, string option)
    {
        var items = (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (items.Count == 0) throw CliException.Usage($"{option} needs at least one value.");
        return items;
    }

    private static int Positive(string option, string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value <= 0)
        {
            throw CliException.Usage($"{option}: '{text}' is not a positive whole number.");
        }
        return value;
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
