using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace Quant.Runtime.Uqff;

/// <summary>
/// The layout of a whole UQFF model (mistral.rs' <c>--write-uqff</c>), in one place for the writer and the reader:
/// <list type="bullet">
/// <item><c>&lt;stem&gt;-0.uqff</c>, <c>&lt;stem&gt;-1.uqff</c>, ...: safetensors files whose entries are named by layer index
/// (<c>"0"</c>, <c>"1"</c>, ... in decimal, no leading zeros), each a 1-D U8 tensor holding one UQFF 0.2.0 layer blob; a file
/// holds whole blobs only and is cut when the next blob would take it past the size limit (10 GiB by default).</item>
/// <item><c>residual.safetensors</c> beside them: every tensor that is not a linear layer (norms, embeddings, routers), in its dtype.</item>
/// <item>the checkpoint's <c>config.json</c> (and tokenizer files) copied beside them.</item>
/// </list>
/// mistral.rs matches layer N to the N-th quantizable layer of the model it builds; Quant also records the mapping in each
/// <c>.uqff</c> file's <c>__metadata__</c>: <c>quant.layer.N</c> = the checkpoint layer (<c>model.layers.0.self_attn.q_proj</c>),
/// <c>quant.layer.N.expert</c> = E for one expert of a stacked tensor, plus <c>quant.layers</c> (the model's layer count),
/// <c>quant.files</c> (its file count) and <c>quant.file</c> (this file's number), so that a missing or stale part is found.
/// </summary>
public static class UqffModelFormat
{
    /// <summary>The default size limit of one <c>.uqff</c> file: 10 GiB, as mistral.rs cuts them.</summary>
    public const long DefaultMaxFileBytes = 10L << 30;

    /// <summary>The residual tensors' file name.</summary>
    public const string ResidualFileName = "residual.safetensors";

    /// <summary>Metadata key: the model's layer count (decimal).</summary>
    public const string LayersKey = "quant.layers";

    /// <summary>Metadata key: the model's <c>.uqff</c> file count (decimal).</summary>
    public const string FilesKey = "quant.files";

    /// <summary>Metadata key: this file's number (decimal).</summary>
    public const string FileKey = "quant.file";

    /// <summary>Metadata key: the UQFF version the blobs are written in.</summary>
    public const string VersionKey = "uqff_version";

    /// <summary>The prefix of the per-layer keys: <c>quant.layer.N</c> names layer N, <c>quant.layer.N.expert</c> its expert.</summary>
    public const string LayerKeyPrefix = "quant.layer.";

    /// <summary>The version string written under <see cref="VersionKey"/>.</summary>
    public const string VersionText = "0.2.0";

    /// <summary>The stem of an output path: <c>out/model.uqff</c> has the stem <c>out/model</c>.</summary>
    public static string Stem(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        return Path.Combine(directory, Path.GetFileNameWithoutExtension(full));
    }

    /// <summary>The path of part <paramref name="number"/>: <c>&lt;stem&gt;-N.uqff</c>.</summary>
    public static string PartPath(string stem, int number) => string.Create(CultureInfo.InvariantCulture, $"{stem}-{number}.uqff");

    /// <summary>The residual file beside the parts of <paramref name="stem"/>.</summary>
    public static string ResidualPath(string stem) => Path.Combine(Path.GetDirectoryName(stem) ?? ".", ResidualFileName);

    /// <summary>The metadata key naming layer <paramref name="index"/>.</summary>
    public static string LayerKey(int index) => LayerKeyPrefix + Decimal(index);

    /// <summary>The metadata key giving the expert of layer <paramref name="index"/>.</summary>
    public static string ExpertKey(int index) => LayerKey(index) + ".expert";

    /// <summary>The decimal digits of <paramref name="value"/> (entry names, metadata values).</summary>
    public static string Decimal(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Parses a canonical non-negative decimal (no sign, no leading zeros) that fits an int; null otherwise.</summary>
    public static int? ParseIndex(string text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 10 || (text.Length > 1 && text[0] == '0')) return null;
        foreach (char c in text) if (c is < '0' or > '9') return null;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value <= int.MaxValue ? (int)value : null;
    }

    /// <summary>
    /// The parts of a UQFF model: given <c>&lt;stem&gt;-N.uqff</c> or <c>&lt;stem&gt;.uqff</c> (the name the writer was given),
    /// every <c>&lt;stem&gt;-N.uqff</c> in its folder, ordered by N. Empty when there is none.
    /// </summary>
    public static IReadOnlyList<(int Number, string Path)> FindParts(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full) ?? ".";
        string name = Path.GetFileNameWithoutExtension(full);
        var own = Regex.Match(name, @"^(.*)-(\d+)$", RegexOptions.CultureInvariant);
        var stems = new List<string> { name };
        if (own.Success && File.Exists(full)) stems.Insert(0, own.Groups[1].Value);
        if (!Directory.Exists(directory)) return [];
        foreach (string stem in stems)
        {
            var parts = new List<(int, string)>();
            var pattern = new Regex("^" + Regex.Escape(stem) + @"-(\d+)\.uqff$", RegexOptions.CultureInvariant);
            foreach (string file in Directory.EnumerateFiles(directory, "*.uqff"))
            {
                var match = pattern.Match(Path.GetFileName(file));
                if (match.Success && ParseIndex(match.Groups[1].Value) is int number) parts.Add((number, file));
            }
            if (parts.Count > 0) return parts.OrderBy(p => p.Item1).ToArray();
        }
        return [];
    }
}
