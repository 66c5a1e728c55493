using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Quant.Cli.Commands;

/// <summary><c>quant formats [--json]</c>: every registered format, as a table or as JSON.</summary>
internal static class FormatsCommand
{
    // Console columns from which the table keeps a description column.
    private const int WideTable = 150;

    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array instead of a table." };
        var markdown = new Option<bool>("--markdown") { Description = "Print the Markdown table README.md carries between its format-table markers." };
        var command = new Command("formats", "Lists every registered format: layout, identity in UQFF and GGUF, quantization rules.");
        command.Options.Add(json);
        command.Options.Add(markdown);
        command.SetAction(parse => context.Guard(() =>
        {
            var formats = QuantFormatRegistry.All.Select(e => e.Info).ToArray();
            if (parse.GetValue(json) && parse.GetValue(markdown)) throw CliException.Usage("--json and --markdown cannot be combined.");
            if (parse.GetValue(json)) WriteJson(context.Out, formats);
            else if (parse.GetValue(markdown)) context.Out.Write(Markdown(formats));
            else WriteTable(context, formats);
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>
    /// The JSON form. Property names and their order are a contract for scripts: name, blockSize,
    /// bytesPerBlock, bitsPerWeight, planes, uqff, uqffType, ggufType, rules, defaultRule, description.
    /// A missing UQFF layer or GGUF id is null.
    /// </summary>
    internal static void WriteJson(TextWriter output, QuantFormatInfo[] formats)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = true,
            // Output for people and scripts, not for embedding in HTML: keep '+' and quotes readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
        {
            json.WriteStartArray();
            foreach (var f in formats)
            {
                json.WriteStartObject();
                json.WriteString("name", f.Name);
                json.WriteNumber("blockSize", f.BlockSize);
                json.WriteNumber("bytesPerBlock", f.BytesPerBlock);
                json.WriteNumber("bitsPerWeight", f.BitsPerWeight);
                json.WriteStartArray("planes");
                foreach (var plane in f.Planes) json.WriteStringValue(plane.Name);
                json.WriteEndArray();
                if (f.Uqff == UqffLayer.None)
                {
                    json.WriteNull("uqff");
                    json.WriteNull("uqffType");
                }
                else
                {
                    json.WriteString("uqff", f.Uqff.ToString());
                    json.WriteNumber("uqffType", (int)f.Uqff);
                }
                if (f.GgufType >= 0) json.WriteNumber("ggufType", f.GgufType);
                else json.WriteNull("ggufType");
                json.WriteStartArray("rules");
                foreach (var rule in f.Rules) json.WriteStringValue(rule.Name);
                json.WriteEndArray();
                json.WriteString("defaultRule", f.Rules.Count > 0 ? f.Rules[f.DefaultRule].Name : null);
                json.WriteString("description", f.Description);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        output.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    /// <summary>
    /// The Markdown table of every format (README.md holds it between <c>&lt;!-- formats:begin --&gt;</c> and
    /// <c>&lt;!-- formats:end --&gt;</c>; a test checks that it is this output). Lines end with \n.
    /// </summary>
    internal static string Markdown(QuantFormatInfo[] formats)
    {
        var text = new StringBuilder();
        text.Append("| format | block | bits/weight | UQFF layer | GGUF id | rules (default first) | description |\n");
        text.Append("|---|---:|---:|---|---:|---|---|\n");
        foreach (var f in formats)
        {
            var rules = f.Rules.Select((r, i) => (r.Name, i)).OrderBy(r => r.i == f.DefaultRule ? 0 : 1).ThenBy(r => r.i).Select(r => r.Name);
            string block = f.TileRows > 1 ? Invariant($"{f.TileRows} x {f.BlockSize}") : Invariant($"{f.BlockSize}");
            text.Append(Invariant($"| `{f.Name}` | {block} | {f.BitsPerWeight:0.###} | {(f.Uqff == UqffLayer.None ? "-" : Invariant($"{f.Uqff} ({(int)f.Uqff})"))} | {(f.GgufType >= 0 ? Invariant($"{f.GgufType}") : "-")} | {string.Join(", ", rules)} | {(f.Description ?? "").Replace("|", "\\|", StringComparison.Ordinal)} |\n"));
        }
        return text.ToString();
    }

    private static void WriteTable(CliContext context, QuantFormatInfo[] formats)
    {
        var console = context.CreateConsole();
        // A terminal too narrow for the descriptions gets them as lines under the table instead of a
        // column squeezed to a few letters; redirected output is wide and keeps the column.
        bool descriptionColumn = console.Profile.Width >= WideTable;
        var table = new Table().Border(context.TableBorder);
        // Only the lists and the description wrap; names and numbers stay whole.
        table.AddColumn(new TableColumn("format").NoWrap());
        table.AddColumn(new TableColumn("block").RightAligned().NoWrap());
        table.AddColumn(new TableColumn("bytes").RightAligned().NoWrap());
        table.AddColumn(new TableColumn("bits/w").RightAligned().NoWrap());
        table.AddColumn(new TableColumn("planes (bytes/block)"));
        table.AddColumn(new TableColumn("UQFF").NoWrap());
        table.AddColumn(new TableColumn("GGUF").RightAligned().NoWrap());
        table.AddColumn(new TableColumn("rules (* default)"));
        if (descriptionColumn) table.AddColumn(new TableColumn("description"));
        foreach (var f in formats)
        {
            // Text, not markup: names and descriptions may hold brackets, which markup would parse.
            var cells = new List<IRenderable>
            {
                new Text(f.Name),
                new Text(Invariant($"{f.BlockSize}")),
                new Text(Invariant($"{f.BytesPerBlock}")),
                new Text(Invariant($"{f.BitsPerWeight:0.###}")),
                new Text(string.Join(" + ", f.Planes.Select(p => Invariant($"{p.Name} {p.BytesPerBlock}")))),
                new Text(f.Uqff == UqffLayer.None ? "-" : Invariant($"{f.Uqff} ({(int)f.Uqff})")),
                new Text(f.GgufType >= 0 ? Invariant($"{f.GgufType}") : "-"),
                new Text(string.Join(", ", f.Rules.Select((r, i) => i == f.DefaultRule ? r.Name + "*" : r.Name))),
            };
            if (descriptionColumn) cells.Add(new Text(f.Description ?? ""));
            table.AddRow(cells);
        }
        console.Write(table);
        if (!descriptionColumn)
        {
            foreach (var f in formats) console.Write(new Text($"{f.Name}: {f.Description}\n"));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
