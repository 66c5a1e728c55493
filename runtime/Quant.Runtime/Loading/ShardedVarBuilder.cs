using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Loading;

/// <summary>
/// Loads named tensors of a checkpoint (one or many safetensors files, or tensors in memory) for the layers:
/// names are the builder's prefix and the asked name joined with <c>.</c>; <see cref="Get"/> checks the
/// stored shape, reads only the bytes of the asked <see cref="Shard"/>, converts float dtypes when asked and
/// keeps integer and FP8 tensors as stored. Builders are immutable: <see cref="Pp(string)"/> returns a new one.
/// </summary>
public sealed class ShardedVarBuilder
{
    private readonly TensorSource _source;

    private ShardedVarBuilder(TensorSource source, string prefix, LoadOptions options)
    {
        _source = source;
        Prefix = prefix;
        Options = options;
    }

    /// <summary>The prefix joined in front of every name (empty at the root).</summary>
    public string Prefix { get; }

    /// <summary>What layers built from this builder apply while loading (ISQ, LoRA, imatrix); inherited by <see cref="Pp(string)"/>.</summary>
    public LoadOptions Options { get; }

    /// <summary>A builder over safetensors files (kept open and mapped until <see cref="Dispose"/>).</summary>
    /// <exception cref="QuantFormatException">A file is invalid, or two files hold a tensor of the same name.</exception>
    public static ShardedVarBuilder FromFiles(IEnumerable<string> paths, LoadOptions? options = null)
    {
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (string path in paths) files.Add(SafetensorsFile.Open(path));
            return new ShardedVarBuilder(new FileSource(files), "", options ?? LoadOptions.Default);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A builder over a checkpoint folder: the files its <c>model.safetensors.index.json</c> names, or else every
    /// <c>*.safetensors</c> file in it.
    /// </summary>
    /// <exception cref="QuantFormatException">The index is invalid or names a missing file, or the folder holds no safetensors file.</exception>
    public static ShardedVarBuilder FromDirectory(string directory, LoadOptions? options = null)
    {
        return FromFiles(CheckpointFiles(directory), options);
    }

    /// <summary>The safetensors files of a checkpoint folder (see <see cref="FromDirectory"/>), sorted.</summary>
    public static IReadOnlyList<string> CheckpointFiles(string directory)
    {
        string index = Path.Combine(directory, "model.safetensors.index.json");
        if (File.Exists(index))
        {
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllBytes(index));
                if (!document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                    throw new QuantFormatException($"{index}: 'weight_map' is missing or not an object.");
                var names = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var entry in map.EnumerateObject())
                {
                    if (entry.Value.ValueKind != JsonValueKind.String) throw new QuantFormatException($"{index}: weight_map['{entry.Name}'] is not a file name.");
                    string file = entry.Value.GetString()!;
                    if (file.Contains('/') || file.Contains('\\') || file == ".." ) throw new QuantFormatException($"{index}: weight_map['{entry.Name}'] = '{file}' is not a file name in the folder.");
                    names.Add(file);
                }
                var paths = names.Select(n => Path.Combine(directory, n)).ToArray();
                foreach (string p in paths) if (!File.Exists(p)) throw new QuantFormatException($"{index} names '{Path.GetFileName(p)}', which is not in {directory}.");
                return paths;
            }
            catch (JsonException e)
            {
                throw new QuantFormatException($"{index} is not valid JSON: {e.Message}", e);
            }
        }
        var all = Directory.GetFiles(directory, "*.safetensors").OrderBy(p => p, StringComparer.Ordinal).ToArray();
        if (all.Length == 0) throw new QuantFormatException($"{directory} holds no *.safetensors file.");
        return all;
    }

    /// <summary>A builder over tensors in memory (tests, synthetic models).</summary>
    public static ShardedVarBuilder FromTensors(IReadOnlyDictionary<string, HostTensor> tensors, LoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        return new ShardedVarBuilder(new MemorySource(tensors), "", options ?? LoadOptions.Default);
    }

    /// <summary>A builder whose prefix is this prefix and <paramref name="name"/> joined with <c>.</c>.</summary>
    public ShardedVarBuilder Pp(string name) => new(_source, Join(name), Options);

    /// <summary>A builder whose prefix ends with the index <paramref name="index"/> (e.g. <c>layers.3</c>).</summary>
    public ShardedVarBuilder Pp(int index) => Pp(index.ToString(CultureInfo.InvariantCulture));

    /// <summary>The same tensors and prefix with other options.</summary>
    public ShardedVarBuilder WithOptions(LoadOptions options) => new(_source, Prefix, options ?? throw new ArgumentNullException(nameof(options)));

    /// <summary>The full name of <paramref name="name"/> under this prefix.</summary>
    public string Join(string name) => Prefix.Length == 0 ? name : name.Length == 0 ? Prefix : Prefix + "." + name;

    /// <summary>Whether the checkpoint has exactly the tensor <c>prefix.name</c>.</summary>
    public bool Contains(string name) => _source.Contains(Join(name));

    /// <summary>The names of every tensor under this prefix (full names).</summary>
    public IEnumerable<string> Names => Prefix.Length == 0 ? _source.Names : _source.Names.Where(n => n.StartsWith(Prefix + ".", StringComparison.Ordinal));

    /// <summary>The stored dtype and shape of <c>prefix.name</c>.</summary>
    /// <exception cref="QuantFormatException">There is no such tensor.</exception>
    public (DType DType, int[] Shape) Describe(string name)
    {
        string full = Join(name);
        return _source.Info(full) ?? throw Missing(full);
    }

    /// <summary>
    /// The tensor <c>prefix.name</c>, whose stored shape must be <paramref name="shape"/> (the whole tensor's
    /// shape), cut to <paramref name="shard"/>; float tensors are converted to <paramref name="dtype"/> when it is
    /// given, integer and FP8 tensors are returned as stored.
    /// </summary>
    /// <exception cref="QuantFormatException">The tensor is missing, has another shape, or the shard does not fit it.</exception>
    public HostTensor Get(int[] shape, string name, Shard shard = default, DType? dtype = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        string full = Join(name);
        var (stored, storedShape) = _source.Info(full) ?? throw Missing(full);
        if (!storedShape.SequenceEqual(shape))
            throw new QuantFormatException($"Tensor '{full}' has shape {HostTensor.ShapeText(storedShape)}; the layer expects {HostTensor.ShapeText(shape)}.");
        var tensor = ReadSharded(full, stored, storedShape, shard);
        return dtype is { } target && stored.IsFloat() && target.IsFloat() && stored is not (DType.F8E4M3 or DType.F8E5M2) ? tensor.ToDType(target) : tensor;
    }

    /// <summary>The tensor <c>prefix.name</c> in whatever shape it is stored, cut to <paramref name="shard"/>.</summary>
    public HostTensor GetUnchecked(string name, Shard shard = default, DType? dtype = null)
    {
        string full = Join(name);
        var (stored, storedShape) = _source.Info(full) ?? throw Missing(full);
        var tensor = ReadSharded(full, stored, storedShape, shard);
        return dtype is { } target && stored.IsFloat() && target.IsFloat() && stored is not (DType.F8E4M3 or DType.F8E5M2) ? tensor.ToDType(target) : tensor;
    }

    /// <summary>Closes the files under this builder (every builder derived from the same root shares them).</summary>
    public void Dispose() => _source.Dispose();

    private HostTensor ReadSharded(string full, DType dtype, int[] storedShape, Shard shard)
    {
        var range = shard.Resolve(storedShape, $"tensor '{full}'");
        if (range is null) return _source.Read(full, 0, HostTensor.ByteCountOf(dtype, storedShape), dtype, storedShape);
        var (dim, start, length) = range.Value;
        var shape = (int[])storedShape.Clone();
        shape[dim] = length;
        long outer = 1;
        for (int d = 0; d < dim; d++) outer *= storedShape[d];
        long inner = dtype.Size();
        for (int d = dim + 1; d < storedShape.Length; d++) inner *= storedShape[d];
        long run = inner * length, stride = inner * storedShape[dim];
        // Only the shard's bytes are touched: one run when the outer dimensions are 1, one run per outer index otherwise.
        if (outer == 1) return _source.Read(full, inner * start, run, dtype, shape);
        var result = HostTensor.Zeros(dtype, shape);
        var destination = result.AsWritableSpan<byte>();
        for (long o = 0; o < outer; o++)
            _source.Read(full, o * stride + inner * start, run, DType.U8, [(int)run]).Bytes.CopyTo(destination.Slice((int)(o * run), (int)run));
        return result;
    }

    private static QuantFormatException Missing(string full) => new($"The checkpoint has no tensor '{full}'.");

    private abstract class TensorSource
    {
        public abstract IEnumerable<string> Names { get; }

        public abstract bool Contains(string name);

        public abstract (DType, int[])? Info(string name);

        public abstract HostTensor Read(string name, long start, long length, DType dtype, int[] shape);

        public virtual void Dispose() { }
    }

    private sealed class FileSource : TensorSource
    {
        private readonly List<SafetensorsFile> _files;
        private readonly Dictionary<string, SafetensorsFile> _byName = new(StringComparer.Ordinal);

        public FileSource(List<SafetensorsFile> files)
        {
            _files = files;
            foreach (var file in files)
            {
                foreach (var entry in file.Entries)
                {
                    if (!_byName.TryAdd(entry.Name, file))
                        throw new QuantFormatException($"Tensor '{entry.Name}' is in both {_byName[entry.Name].Path} and {file.Path}.");
                }
            }
        }

        public override IEnumerable<string> Names => _byName.Keys;

        public override bool Contains(string name) => _byName.ContainsKey(name);

        public override (DType, int[])? Info(string name) => _byName.TryGetValue(name, out var file) ? (file.Entry(name).DType, file.Entry(name).Shape) : null;

        public override HostTensor Read(string name, long start, long length, DType dtype, int[] shape) =>
            HostTensor.FromBytes(dtype, shape, _byName[name].ReadMemory(name, start, length), $"tensor '{name}'");

        public override void Dispose()
        {
            foreach (var f in _files) f.Dispose();
        }
    }

    private sealed class MemorySource(IReadOnlyDictionary<string, HostTensor> tensors) : TensorSource
    {
        public override IEnumerable<string> Names => tensors.Keys;

        public override bool Contains(string name) => tensors.ContainsKey(name);

        public override (DType, int[])? Info(string name) => tensors.TryGetValue(name, out var t) ? (t.DType, t.Dims()) : null;

        public override HostTensor Read(string name, long start, long length, DType dtype, int[] shape) =>
            HostTensor.FromBytes(dtype, shape, tensors[name].Memory.Slice((int)start, (int)length), $"tensor '{name}'");
    }
}
