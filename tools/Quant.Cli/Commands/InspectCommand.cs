using System;
using System.CommandLine;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Quant.Cli.Inspect;
using Spectre.Console;

namespace Quant.Cli.Commands;

/// <summary><c>quant inspect FILE [--json]</c>: what a model file holds (GGUF, UQFF layer blob), as tables or JSON.</summary>
internal static class InspectCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliContext context)
    {
        var json = new Option<bool>("--json") { Description = "Print JSON (every metadata value complete) instead of tables." };
        var input = new Argument<string>("FILE") { Description = $"The file to inspect: {string.Join(", ", FileInspectors.All.Select(i => i.Kind))}." };
        var command = new Command("inspect", "Shows a model file's kind, metadata and tensor table (name, type, format, shape, bytes).");
        command.Options.Add(json);
        command.Arguments.Add(input);
        command.SetAction(parse => context.Guard(() =>
        {
            string path = parse.GetValue(input) ?? "";
            var report = Read(path);
            if (parse.GetValue(json)) WriteJson(context.Out, report);
            else WriteTables(context, report);
            return ExitCodes.Success;
        }));
        return command;
    }

    private static InspectReport Read(string path)
    {
        path = UqffModelInspector.Resolve(path);
        if (!File.Exists(path)) throw CliException.BadData($"input '{path}' does not exist.");
        Span<byte> head = stackalloc byte[16];
        int read;
        try
        {
            using var stream = File.OpenRead(path);
            read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.BadData($"input '{path}' cannot be read: {e.Message}", e);
        }
        foreach (var inspector in FileInspectors.All)
        {
            if (!inspector.Matches(path, head[..read])) continue;
            try
            {
                return inspector.Inspect(path);
            }
            catch (QuantFormatException e)
            {
                throw CliException.BadData(e.Message.StartsWith(path, StringComparison.Ordinal) ? e.Message : $"input '{path}' ({inspector.Kind}): {e.Message}", e);
            }
        }
        throw CliException.BadData($"input '{path}' is none of the file kinds inspect reads ({string.Join(", ", FileInspectors.All.Select(i => i.Kind))}).");
    }

    /// <summary>
    /// The JSON form; property names are a contract for scripts: file, kind, bytes, properties (an object),
    /// metadata (an array of key, type, value, every value complete), tensors (name, type, format, shape slowest first, bytes).
    /// </summary>
    private static void WriteJson(TextWriter output, InspectReport report)
    {
        var properties = new JsonObject();
        foreach (var (name, value) in report.Properties) properties[name] = value?.DeepClone();
        var root = new JsonObject
        {
            ["file"] = report.Path,
            ["kind"] = report.Kind,
            ["bytes"] = report.Bytes,
            ["properties"] = properties,
            ["metadata"] = new JsonArray(report.Metadata.Select(m => (JsonNode)new JsonObject
            {
                ["key"] = m.Key,
                ["type"] = m.Type,
                ["value"] = m.Value?.DeepClone(),
            }).ToArray()),
            ["tensors"] = new JsonArray(report.Tensors.Select(t => (JsonNode)new JsonObject
            {
                ["name"] = t.Name,
                ["type"] = t.Type,
                ["format"] = t.Format,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
                ["bytes"] = t.Bytes,
            }).ToArray()),
        };
        output.WriteLine(root.ToJsonString(new JsonSerializerOptions
        {
            WriteIndented = true,
            // For people and scripts, not for HTML: tokens such as "<s>" and non-ASCII text stay readable.
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }));
    }

    private static void WriteTables(CliContext context, InspectReport report)
    {
        var console = context.CreateConsole();
        string facts = string.Join(", ", report.Properties.Select(p => $"{p.Name} {Plain(p.Value)}"));
        console.WriteLine(Text($"{report.Path}: {report.Kind}, {report.Bytes} bytes; {facts}"));
        if (report.Metadata.Count > 0)
        {
            var metadata = new Table().Border(context.TableBorder).Title("metadata");
            metadata.AddColumn("key").AddColumn("type").AddColumn("value");
            foreach (var m in report.Metadata) metadata.AddRow(Markup.Escape(m.Key), Markup.Escape(m.Type), Markup.Escape(m.Summary));
            console.Write(metadata);
        }
        var tensors = new Table().Border(context.TableBorder).Title("tensors");
        tensors.AddColumn("name").AddColumn("type").AddColumn("format").AddColumn("shape").AddColumn(new TableColumn("bytes").RightAligned());
        long total = 0;
        foreach (var t in report.Tensors)
        {
            tensors.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Type), Markup.Escape(t.Format ?? "-"), Markup.Escape($"[{string.Join(", ", t.Shape)}]"), Text($"{t.Bytes}"));
            total += t.Bytes;
        }
        console.Write(tensors);
        console.WriteLine(Text($"{report.Tensors.Count} tensors, {total} bytes of tensor data"));
    }

    private static string Plain(JsonNode? value) => value is JsonValue v && v.TryGetValue(out string? s) ? s : value?.ToJsonString() ?? "null";

    private static string Text(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
