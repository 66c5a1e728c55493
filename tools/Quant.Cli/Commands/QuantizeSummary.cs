using System;
using System.Globalization;
using System.Linq;
using Quant.Runtime.Conversion;
using Spectre.Console;

namespace Quant.Cli.Commands;

/// <summary>The table <c>quant quantize</c> ends with: per output type the layers, parameters, bytes before and after and bits per weight; then the totals, the time and the pool.</summary>
internal static class Summary
{
    public static void Write(CliContext context, QuantizeReport report)
    {
        var plan = report.Plan;
        var console = context.CreateConsole();
        var table = new Table().Border(context.TableBorder);
        table.AddColumn("written as").AddColumn(new TableColumn("layers").RightAligned()).AddColumn(new TableColumn("parameters").RightAligned())
            .AddColumn(new TableColumn("bytes before").RightAligned()).AddColumn(new TableColumn("bytes after").RightAligned()).AddColumn(new TableColumn("bits/weight").RightAligned());
        foreach (var group in plan.Units.GroupBy(u => u.TypeName).OrderByDescending(g => g.Sum(u => u.Elements)))
        {
            long elements = group.Sum(u => u.Elements), before = group.Sum(u => u.InputBytes), after = group.Sum(u => u.OutputBytes);
            table.AddRow(Cells(group.Key, Text($"{group.Count()}"), Text($"{elements:N0}"), Bytes(before), Bytes(after), Text($"{after * 8.0 / Math.Max(1, elements):0.###}")));
        }
        var residual = plan.Steps.OfType<ResidualStep>().ToArray();
        if (residual.Length > 0)
        {
            long elements = residual.Sum(r => r.Source.ElementCount) / 1;
            table.AddRow(Cells(Text($"kept ({residual.Length} tensors)"), "-", Text($"{elements:N0}"),
                Bytes(residual.Sum(r => r.InputBytes)), Bytes(residual.Sum(r => r.OutputBytes)), "-"));
        }
        long totalBefore = plan.InputBytes, totalAfter = plan.Steps.Sum(s => s.OutputBytes);
        long totalElements = plan.Units.Sum(u => u.Elements) + residual.Sum(r => r.Source.ElementCount);
        table.AddRow(Cells("total", Text($"{plan.Units.Count}"), Text($"{totalElements:N0}"), Bytes(totalBefore), Bytes(totalAfter), Text($"{totalAfter * 8.0 / Math.Max(1, totalElements):0.###}")));
        console.Write(table);
        double seconds = report.Elapsed.TotalSeconds;
        console.WriteLine(Text($"wrote {string.Join(", ", plan.OutputFiles.Select(System.IO.Path.GetFileName))} ({Bytes(report.OutputBytes)}) in {plan.OutputFiles[0][..^System.IO.Path.GetFileName(plan.OutputFiles[0]).Length]}"));
        console.WriteLine(Text($"time {seconds:0.00} s: {totalBefore / Math.Max(seconds, 1e-9) / 1e9:0.000} GB/s of checkpoint read; {report.Workers} ISQ worker(s), at most {report.PeakPending} layer(s) pending at once (bound {report.Workers + 1})"));
        if (PeakResident() is long peak) console.WriteLine(Text($"peak resident memory {Bytes(peak)} (VmHWM: the whole process, the .NET runtime included)"));
        foreach (var note in plan.Notes) console.WriteLine("note: " + note);
    }

    /// <summary>The process's peak resident set (Linux's VmHWM), or null where /proc does not give it.</summary>
    public static long? PeakResident()
    {
        try
        {
            foreach (var line in System.IO.File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith("VmHWM:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (Exception e) when (e is System.IO.IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }

    public static string Bytes(long bytes) => bytes switch
    {
        < 1L << 10 => Text($"{bytes} B"),
        < 1L << 20 => Text($"{bytes / 1024.0:0.0} KiB"),
        < 1L << 30 => Text($"{bytes / 1048576.0:0.0} MiB"),
        _ => Text($"{bytes / 1073741824.0:0.00} GiB"),
    };

    public static string Text(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static Text[] Cells(params string[] values) => Array.ConvertAll(values, v => new Text(v));
}
