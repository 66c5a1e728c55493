using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Quant.Runtime.IO;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Uqff;

/// <summary>
/// Writes a whole UQFF model (<see cref="UqffModelFormat"/>) as one goes: every layer's blob length is given up front
/// (<see cref="Quant.Uqff.UqffCodec.LayerLength(QuantFormatInfo, int, int, bool)"/> computes it from the format and shape before anything is quantized),
/// so each part's header is written when the part is opened and the blobs follow in index order, one at a time; the
/// residual tensors go to <c>residual.safetensors</c> in their announced order, interleaved with the layers as the caller
/// likes. Nothing appears under its final name before <see cref="Commit"/>: every file is written under a hidden
/// <c>.partial</c> name beside its target, and disposing an uncommitted writer deletes them all.
/// </summary>
public sealed class UqffModelWriter : IDisposable
{
    private readonly UqffModelLayer[] _layers;
    private readonly UqffModelPart[] _parts;
    private readonly SafetensorsWriter?[] _writers;
    private readonly IReadOnlyList<SafetensorsTensorInfo> _residualTable;
    private readonly IReadOnlyList<(string FileName, byte[] Bytes)> _sideFiles;
    private SafetensorsWriter? _residual;
    private int _nextLayer;
    private bool _committed;

    /// <summary>Plans the parts and opens the residual file (nothing else is created until a layer is written).</summary>
    /// <param name="path">The model's name, <c>out/model.uqff</c>: the parts are <c>out/model-N.uqff</c>.</param>
    /// <param name="layers">Every layer, in index order (index i at position i), with its blob's exact length.</param>
    /// <param name="residual">The residual tensors, in the order their bytes will be written.</param>
    /// <param name="maxFileBytes">The size limit of one part's data (a blob larger than it gets a part of its own).</param>
    /// <param name="sideFiles">Files written beside the model at <see cref="Commit"/> (<c>config.json</c>, tokenizer files): a plain file name and its bytes.</param>
    /// <exception cref="ArgumentException">An index is out of order, a length is impossible, a side file name is not a plain name, or the limit is not positive.</exception>
    public UqffModelWriter(string path, IReadOnlyList<UqffModelLayer> layers, IReadOnlyList<SafetensorsTensorInfo> residual,
        long maxFileBytes = UqffModelFormat.DefaultMaxFileBytes, IReadOnlyList<(string FileName, byte[] Bytes)>? sideFiles = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(layers);
        ArgumentNullException.ThrowIfNull(residual);
        Stem = UqffModelFormat.Stem(path);
        _layers = layers.ToArray();
        _parts = Plan(Stem, _layers, maxFileBytes).ToArray();
        _writers = new SafetensorsWriter?[_parts.Length];
        _residualTable = residual;
        _sideFiles = sideFiles ?? [];
        foreach (var (name, bytes) in _sideFiles)
        {
            if (string.IsNullOrEmpty(name) || name != Path.GetFileName(name) || name is "." or ".." || bytes is null)
                throw new ArgumentException($"Side file '{name}' must be a plain file name with its bytes.", nameof(sideFiles));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Stem) ?? ".");
        _residual = new SafetensorsWriter(UqffModelFormat.ResidualPath(Stem), residual);
    }

    /// <summary>The model's stem: the parts are <c>Stem-N.uqff</c>.</summary>
    public string Stem { get; }

    /// <summary>The parts, with the layers each holds.</summary>
    public IReadOnlyList<UqffModelPart> Parts => _parts;

    /// <summary>The index of the layer whose blob comes next, or -1 when every layer was written.</summary>
    public int NextLayer => _nextLayer < _layers.Length ? _nextLayer : -1;

    /// <summary>Every file <see cref="Commit"/> creates or replaces: the parts, the residual file, the side files.</summary>
    public IReadOnlyList<string> Files => OutputFiles(Stem, _parts.Length, _sideFiles.Select(s => s.FileName));

    /// <summary>The files a model of <paramref name="partCount"/> parts named <paramref name="path"/> consists of.</summary>
    public static IReadOnlyList<string> OutputFiles(string path, int partCount, IEnumerable<string> sideFileNames)
    {
        string stem = UqffModelFormat.Stem(path);
        string directory = Path.GetDirectoryName(stem) ?? ".";
        return Enumerable.Range(0, partCount).Select(i => UqffModelFormat.PartPath(stem, i))
            .Append(UqffModelFormat.ResidualPath(stem))
            .Concat(sideFileNames.Select(n => Path.Combine(directory, n)))
            .ToArray();
    }

    /// <summary>
    /// How <paramref name="layers"/> (in index order) split into parts of at most <paramref name="maxFileBytes"/> bytes of
    /// data: a part is cut before the blob that would take it past the limit, and a blob never spans parts.
    /// </summary>
    /// <exception cref="ArgumentException">The layers are not in index order 0, 1, ..., a layer is invalid, or the limit is not positive.</exception>
    public static IReadOnlyList<UqffModelPart> Plan(string path, IReadOnlyList<UqffModelLayer> layers, long maxFileBytes = UqffModelFormat.DefaultMaxFileBytes)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (maxFileBytes <= 0) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"The size limit must be positive; it is {maxFileBytes}."), nameof(maxFileBytes));
        string stem = path.EndsWith(".uqff", StringComparison.Ordinal) ? UqffModelFormat.Stem(path) : path;
        var parts = new List<UqffModelPart>();
        var current = new List<UqffModelLayer>();
        long bytes = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i] ?? throw new ArgumentException($"Layer {i} is null.", nameof(layers));
            layer.Validate();
            if (layer.Index != i) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {layer.Index} is at position {i}; layers are given in index order."), nameof(layers));
            if (current.Count > 0 && bytes + layer.Length > maxFileBytes)
            {
                parts.Add(new UqffModelPart(parts.Count, UqffModelFormat.PartPath(stem, parts.Count), current.ToArray(), bytes));
                current.Clear();
                bytes = 0;
            }
            current.Add(layer);
            bytes += layer.Length;
        }
        if (current.Count > 0 || parts.Count == 0) parts.Add(new UqffModelPart(parts.Count, UqffModelFormat.PartPath(stem, parts.Count), current.ToArray(), bytes));
        return parts;
    }

    /// <summary>Writes the blob of layer <paramref name="index"/>, which must be the next one and exactly its announced length.</summary>
    /// <exception cref="InvalidOperationException">The layer is not the next one, or the writer was committed.</exception>
    /// <exception cref="ArgumentException">The blob's length is not the announced one.</exception>
    public void WriteLayer(int index, ReadOnlySpan<byte> blob)
    {
        if (_committed) throw new InvalidOperationException("The model was committed.");
        if (index != _nextLayer || index >= _layers.Length)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Layer {index} was written out of order; layer {(_nextLayer < _layers.Length ? _nextLayer : -1)} is next."));
        var layer = _layers[index];
        if (blob.Length != layer.Length)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {index} ({layer.DisplayName}) was announced as {layer.Length} bytes; its blob has {blob.Length}."), nameof(blob));
        int part = PartOf(index);
        var writer = _writers[part] ??= Open(_parts[part]);
        writer.Write(UqffModelFormat.Decimal(index), blob);
        _nextLayer++;
    }

    /// <summary>Writes (part of) the bytes of the residual tensor <paramref name="name"/>, which must be the next one.</summary>
    /// <exception cref="InvalidOperationException">The tensor is out of order or too long.</exception>
    public void WriteResidual(string name, ReadOnlySpan<byte> bytes)
    {
        if (_committed || _residual is null) throw new InvalidOperationException("The model was committed.");
        _residual.Write(name, bytes);
    }

    /// <summary>The residual tensor whose bytes come next, or null.</summary>
    public SafetensorsTensorInfo? NextResidual => _residual?.Next;

    /// <summary>
    /// Checks that every layer and residual tensor was written, then gives every file its name: the parts in order, then
    /// <c>residual.safetensors</c>, then the side files; last, parts of an earlier model of the same stem numbered past
    /// this model's are deleted, so that the folder holds one consistent model.
    /// </summary>
    /// <exception cref="InvalidOperationException">A layer or a residual tensor is missing.</exception>
    public void Commit()
    {
        if (_committed) throw new InvalidOperationException("The model was committed already.");
        if (_nextLayer < _layers.Length)
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"{_layers.Length - _nextLayer} of {_layers.Length} layers were not written (next: {_layers[_nextLayer].DisplayName}); the model was not written."));
        for (int p = 0; p < _parts.Length; p++) _writers[p] ??= Open(_parts[p]);
        foreach (var writer in _writers) writer!.Commit();
        _residual!.Commit();
        string directory = Path.GetDirectoryName(Stem) ?? ".";
        foreach (var (name, bytes) in _sideFiles) AtomicFile.WriteAllBytes(Path.Combine(directory, name), bytes);
        _committed = true;
        foreach (var (number, stale) in UqffModelFormat.FindParts(UqffModelFormat.PartPath(Stem, 0)))
        {
            if (number >= _parts.Length) AtomicFile.TryDelete(stale);
        }
    }

    /// <summary>Deletes every temporary file unless <see cref="Commit"/> ran.</summary>
    public void Dispose()
    {
        foreach (var writer in _writers) writer?.Dispose();
        _residual?.Dispose();
        _residual = null;
    }

    private int PartOf(int index)
    {
        for (int p = 0; p < _parts.Length; p++)
        {
            var layers = _parts[p].Layers;
            if (layers.Count > 0 && index <= layers[^1].Index) return p;
        }
        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Layer {index} is in no part."));
    }

    private SafetensorsWriter Open(UqffModelPart part)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [UqffModelFormat.VersionKey] = UqffModelFormat.VersionText,
            [UqffModelFormat.LayersKey] = UqffModelFormat.Decimal(_layers.Length),
            [UqffModelFormat.FilesKey] = UqffModelFormat.Decimal(_parts.Length),
            [UqffModelFormat.FileKey] = UqffModelFormat.Decimal(part.Number),
        };
        foreach (var layer in part.Layers)
        {
            if (layer.Name is not null) metadata[UqffModelFormat.LayerKey(layer.Index)] = layer.Name;
            if (layer.Expert is int e) metadata[UqffModelFormat.ExpertKey(layer.Index)] = UqffModelFormat.Decimal(e);
        }
        var table = part.Layers.Select(l => new SafetensorsTensorInfo(UqffModelFormat.Decimal(l.Index), DType.U8, [checked((int)l.Length)])).ToArray();
        return new SafetensorsWriter(part.Path, table, metadata);
    }
}

/// <summary>One <c>.uqff</c> file of a model: its number, its path, its layers and their bytes together.</summary>
/// <param name="Number">N in <c>stem-N.uqff</c>.</param>
/// <param name="Path">The file.</param>
/// <param name="Layers">The layers it holds, in index order.</param>
/// <param name="DataBytes">The bytes of their blobs together (the file adds its header).</param>
public sealed record UqffModelPart(int Number, string Path, IReadOnlyList<UqffModelLayer> Layers, long DataBytes);
