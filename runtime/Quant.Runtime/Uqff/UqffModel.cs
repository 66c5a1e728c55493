using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Quant.Runtime.Layers;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Uqff;

/// <summary>
/// A whole UQFF model (<see cref="UqffModelFormat"/>) opened read-only: its parts and <c>residual.safetensors</c> are
/// memory-mapped and checked when opened (each safetensors header as <see cref="SafetensorsFile"/> checks it; then every
/// entry named by a canonical layer index, a 1-D U8 tensor, no index twice, every index from 0 to the layer count
/// present, the part numbers and counts in the metadata consistent, a name recorded for every layer of a Quant file).
/// Layers are rebuilt one at a time by <see cref="ReadLayer"/>. Every failure is a <see cref="QuantFormatException"/>
/// naming the file and the layer.
/// </summary>
public sealed class UqffModel : IDisposable
{
    private readonly SafetensorsFile[] _parts;
    private readonly (int Part, string Entry)[] _where;

    private UqffModel(SafetensorsFile[] parts, UqffModelLayer[] layers, (int, string)[] where, SafetensorsFile residual, string? config)
    {
        _parts = parts;
        Layers = layers;
        _where = where;
        Residual = residual;
        ConfigJson = config;
    }

    /// <summary>The parts' paths, in order.</summary>
    public IReadOnlyList<string> Files => _parts.Select(p => p.Path).ToArray();

    /// <summary>The layers, in index order.</summary>
    public IReadOnlyList<UqffModelLayer> Layers { get; }

    /// <summary>The residual tensors (<c>residual.safetensors</c>).</summary>
    public SafetensorsFile Residual { get; }

    /// <summary>The text of the <c>config.json</c> beside the model, or null when there is none.</summary>
    public string? ConfigJson { get; }

    /// <summary>The bytes of every part and the residual file together.</summary>
    public long Bytes => _parts.Sum(p => p.Length) + Residual.Length;

    /// <summary>
    /// Opens the model of <paramref name="path"/>: a part (<c>model-0.uqff</c>) or the name the writer was given
    /// (<c>model.uqff</c>); every <c>model-N.uqff</c> of its folder is read, with <c>residual.safetensors</c> beside them.
    /// </summary>
    /// <exception cref="QuantFormatException">A part is missing, corrupt or inconsistent with the others, or the residual file is missing or corrupt.</exception>
    public static UqffModel Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var found = UqffModelFormat.FindParts(path);
        if (found.Count == 0) throw new QuantFormatException($"{path}: no UQFF model part (<stem>-N.uqff) was found there.");
        var parts = new List<SafetensorsFile>();
        SafetensorsFile? residual = null;
        try
        {
            foreach (var (_, part) in found) parts.Add(SafetensorsFile.Open(part));
            var (layers, where) = Check(found, parts);
            string directory = Path.GetDirectoryName(Path.GetFullPath(found[0].Path)) ?? ".";
            string residualPath = Path.Combine(directory, UqffModelFormat.ResidualFileName);
            if (!File.Exists(residualPath)) throw new QuantFormatException($"{residualPath} is missing: a UQFF model keeps its non-linear tensors there.");
            residual = SafetensorsFile.Open(residualPath);
            string configPath = Path.Combine(directory, "config.json");
            string? config = File.Exists(configPath) ? ReadConfig(configPath) : null;
            return new UqffModel(parts.ToArray(), layers, where, residual, config);
        }
        catch
        {
            foreach (var p in parts) p.Dispose();
            residual?.Dispose();
            throw;
        }
    }

    /// <summary>The blob of layer <paramref name="index"/>, in place (valid while the model is open).</summary>
    /// <exception cref="ArgumentOutOfRangeException">There is no such layer.</exception>
    public ReadOnlySpan<byte> Blob(int index)
    {
        if ((uint)index >= (uint)Layers.Count) throw new ArgumentOutOfRangeException(nameof(index), index, string.Create(CultureInfo.InvariantCulture, $"The model has {Layers.Count} layers."));
        var (part, entry) = _where[index];
        return _parts[part].ReadBytes(entry, 0, Layers[index].Length);
    }

    /// <summary>Rebuilds layer <paramref name="index"/> from its blob (<see cref="QuantMethods.Deserialize"/>), with its bias.</summary>
    /// <exception cref="QuantFormatException">The blob is corrupt; the message names the file and the layer.</exception>
    public IQuantMethod ReadLayer(int index)
    {
        var blob = Blob(index);
        var layer = Layers[index];
        try
        {
            return QuantMethods.Deserialize(blob);
        }
        catch (Exception e) when (e is QuantFormatException or ArgumentException or InvalidOperationException or OverflowException)
        {
            // Constructors check shapes with ArgumentExceptions; a corrupt blob is bad data, whichever check finds it.
            throw new QuantFormatException($"{_parts[_where[index].Part].Path}: layer {index} ({layer.DisplayName}): {e.Message}", e);
        }
    }

    /// <summary>The index of the layer that holds <paramref name="name"/> (and <paramref name="expert"/>), or -1.</summary>
    public int IndexOf(string name, int? expert = null)
    {
        for (int i = 0; i < Layers.Count; i++)
        {
            if (Layers[i].Name == name && Layers[i].Expert == expert) return i;
        }
        return -1;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var p in _parts) p.Dispose();
        Residual.Dispose();
    }

    private static (UqffModelLayer[] Layers, (int, string)[] Where) Check(IReadOnlyList<(int Number, string Path)> found, List<SafetensorsFile> parts)
    {
        bool quant = parts[0].Metadata.ContainsKey(UqffModelFormat.LayersKey);
        long? declaredLayers = null;
        int? declaredFiles = null;
        var layers = new SortedDictionary<int, (UqffModelLayer Layer, int Part, string Entry)>();
        for (int p = 0; p < parts.Count; p++)
        {
            var file = parts[p];
            string where = file.Path;
            if (found[p].Number != p)
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: part {found[p].Number} was found where part {p} should be; a part is missing."));
            var metadata = file.Metadata;
            if (quant)
            {
                long layerCount = Count(metadata, UqffModelFormat.LayersKey, where);
                int fileCount = (int)Math.Min(Count(metadata, UqffModelFormat.FilesKey, where), int.MaxValue);
                long number = Count(metadata, UqffModelFormat.FileKey, where);
                if (number != p) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: its metadata says it is part {number}, but it is named part {p}."));
                if (declaredLayers is not null && (declaredLayers != layerCount || declaredFiles != fileCount))
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: it belongs to a model of {layerCount} layers in {fileCount} files, the first part to one of {declaredLayers} in {declaredFiles}; the parts come from different models."));
                declaredLayers = layerCount;
                declaredFiles = fileCount;
                foreach (var key in metadata.Keys)
                {
                    if (!key.StartsWith(UqffModelFormat.LayerKeyPrefix, StringComparison.Ordinal)) continue;
                    string rest = key[UqffModelFormat.LayerKeyPrefix.Length..];
                    if (rest.EndsWith(".expert", StringComparison.Ordinal)) rest = rest[..^".expert".Length];
                    if (UqffModelFormat.ParseIndex(rest) is not int named || !file.Contains(UqffModelFormat.Decimal(named)))
                        throw new QuantFormatException($"{where}: metadata '{key}' names no layer of this file.");
                }
            }
            foreach (var entry in file.Entries)
            {
                int index = UqffModelFormat.ParseIndex(entry.Name)
                    ?? throw new QuantFormatException($"{where}: entry '{entry.Name}' is not a layer index (a UQFF model names its entries 0, 1, 2, ...).");
                if (entry.DType != DType.U8 || entry.Shape.Length != 1)
                    throw new QuantFormatException($"{where}: layer {index} is {entry.DType} {HostTensor.ShapeText(entry.Shape)}; a layer blob is a 1-D U8 tensor.");
                if (entry.Length < 5) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: layer {index} is {entry.Length} bytes, too short for a layer blob."));
                if (declaredLayers is long total && index >= total)
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{where}: layer {index} is past the model's {total} layers."));
                string? name = null;
                int? expert = null;
                if (quant)
                {
                    if (!metadata.TryGetValue(UqffModelFormat.LayerKey(index), out name) || name.Length == 0)
                        throw new QuantFormatException($"{where}: layer {index} has no name in the metadata ('{UqffModelFormat.LayerKey(index)}').");
                    if (metadata.TryGetValue(UqffModelFormat.ExpertKey(index), out var e))
                        expert = UqffModelFormat.ParseIndex(e) ?? throw new QuantFormatException($"{where}: '{UqffModelFormat.ExpertKey(index)}' = '{e}' is not an expert index.");
                }
                var layer = new UqffModelLayer(index, name, expert, entry.Length);
                if (!layers.TryAdd(index, (layer, p, entry.Name)))
                    throw new QuantFormatException($"{where}: layer {index} is also in {parts[layers[index].Part].Path}.");
            }
        }
        if (declaredFiles is int files && files != parts.Count)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{parts[0].Path}: the model has {files} parts but {parts.Count} were found; {(files > parts.Count ? "a part is missing" : "a stale part from another model lies beside it")}."));
        long expected = declaredLayers ?? layers.Count;
        if (layers.Count != expected || (layers.Count > 0 && layers.Keys.Last() != layers.Count - 1))
        {
            int missing = Enumerable.Range(0, (int)Math.Min(expected, int.MaxValue)).FirstOrDefault(i => !layers.ContainsKey(i), -1);
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{parts[0].Path}: the model has {expected} layers but {layers.Count} were found (layer {missing} is missing)."));
        }
        return (layers.Values.Select(v => v.Layer).ToArray(), layers.Values.Select(v => (v.Part, v.Entry)).ToArray());
    }

    private static long Count(IReadOnlyDictionary<string, string> metadata, string key, string where)
    {
        if (!metadata.TryGetValue(key, out var text)) throw new QuantFormatException($"{where}: metadata '{key}' is missing.");
        return UqffModelFormat.ParseIndex(text) ?? throw new QuantFormatException($"{where}: metadata '{key}' = '{text}' is not a count.");
    }

    private static string ReadConfig(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new QuantFormatException($"{path} is not UTF-8 text.");
        return Encoding.UTF8.GetString(bytes);
    }
}
