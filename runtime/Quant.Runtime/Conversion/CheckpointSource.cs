using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Quant.Kernels;
using Quant.Runtime.Gguf;
using Quant.Runtime.Loading;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Conversion;

/// <summary>What a checkpoint is stored as.</summary>
public enum CheckpointKind
{
    /// <summary>Hugging Face safetensors: a folder (with or without <c>model.safetensors.index.json</c>) or one file.</summary>
    Safetensors,
    /// <summary>A GGUF file.</summary>
    Gguf,
}

/// <summary>One tensor of a checkpoint as its file describes it.</summary>
/// <param name="Name">Its name in the checkpoint.</param>
/// <param name="DType">Its dtype (safetensors), or null for a GGUF tensor (see <paramref name="GgufType"/>).</param>
/// <param name="GgufType">Its ggml type (GGUF), or null.</param>
/// <param name="Shape">Its dimensions, slowest first (a GGUF tensor's dims reversed).</param>
/// <param name="ByteLength">Its data's length in bytes.</param>
/// <param name="File">The index of the file that holds it in <see cref="CheckpointSource.DataFiles"/>.</param>
/// <param name="Offset">The absolute offset of its data in that file.</param>
public sealed record SourceTensor(string Name, DType? DType, GgufTensorType? GgufType, int[] Shape, long ByteLength, int File, long Offset)
{
    /// <summary>The number of elements.</summary>
    public long ElementCount => HostTensor.ElementCountOf(Shape);

    /// <summary>The dtype's or ggml type's name, for tables (<c>BF16</c>, <c>Q4_K</c>).</summary>
    public string TypeName => DType?.SafetensorsName() ?? GgufType!.Name.ToUpperInvariant();

    /// <summary>Whether the values are floats this reader converts (F32, F16, BF16, F64; any ggml type).</summary>
    public bool IsFloat => GgufType is not null || DType is Tensors.DType.F32 or Tensors.DType.F16 or Tensors.DType.BF16 or Tensors.DType.F64;

    /// <summary>The shape as <c>[a, b]</c>.</summary>
    public string ShapeText => HostTensor.ShapeText(Shape);
}

/// <summary>
/// A checkpoint opened for conversion, read lazily: the headers are parsed and checked when it is opened (through
/// <see cref="SafetensorsFile"/>, <see cref="ShardedVarBuilder.CheckpointFiles"/> and <see cref="GgufFile"/>), and each
/// tensor's bytes are read only when asked for, with positional reads into memory the caller owns (not through the
/// memory map, so a pass over the whole model does not leave it resident in this process). Nothing is ever written to
/// the checkpoint's files.
/// </summary>
public sealed class CheckpointSource : IDisposable
{
    private readonly SafeFileHandle[] _handles;
    private readonly IDisposable[] _owned;
    private readonly Dictionary<string, SourceTensor> _byName;

    private CheckpointSource(CheckpointKind kind, string path, string directory, IReadOnlyList<string> dataFiles, SafeFileHandle[] handles,
        IDisposable[] owned, IReadOnlyList<SourceTensor> tensors, string? configText, GgufFile? gguf)
    {
        Kind = kind;
        Path = path;
        Directory = directory;
        DataFiles = dataFiles;
        _handles = handles;
        _owned = owned;
        Tensors = tensors;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        ConfigText = configText;
        Gguf = gguf;
        if (configText is not null)
        {
            try
            {
                using var document = JsonDocument.Parse(configText);
                Config = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new QuantFormatException($"{System.IO.Path.Combine(directory, "config.json")} is not valid JSON: {e.Message}", e);
            }
            if (Config.Value.ValueKind != JsonValueKind.Object)
                throw new QuantFormatException($"{System.IO.Path.Combine(directory, "config.json")} must hold a JSON object.");
        }
    }

    /// <summary>How the checkpoint is stored.</summary>
    public CheckpointKind Kind { get; }

    /// <summary>The path it was opened from (a folder or a file).</summary>
    public string Path { get; }

    /// <summary>The folder that holds it (where <c>config.json</c> and <c>tokenizer.json</c> are looked for).</summary>
    public string Directory { get; }

    /// <summary>The files that hold tensor data.</summary>
    public IReadOnlyList<string> DataFiles { get; }

    /// <summary>Every tensor, in file order.</summary>
    public IReadOnlyList<SourceTensor> Tensors { get; }

    /// <summary>The text of <c>config.json</c>, or null when the folder has none.</summary>
    public string? ConfigText { get; }

    /// <summary><c>config.json</c> parsed, or null.</summary>
    public JsonElement? Config { get; }

    /// <summary>The GGUF file of a GGUF checkpoint (its metadata), or null.</summary>
    public GgufFile? Gguf { get; }

    /// <summary>The checkpoint's <c>tokenizer.json</c>, or null when the folder has none.</summary>
    public string? TokenizerJsonPath => Existing("tokenizer.json");

    /// <summary>
    /// Every file that belongs to the checkpoint and that an output must not replace: the data files, the index, and
    /// <c>config.json</c> and the tokenizer files when present.
    /// </summary>
    public IReadOnlyList<string> InputFiles =>
        DataFiles.Concat(new[] { "model.safetensors.index.json", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json" }
            .Select(Existing).OfType<string>()).Select(System.IO.Path.GetFullPath).Distinct().ToArray();

    /// <summary>The bytes of every tensor together.</summary>
    public long TensorBytes => Tensors.Sum(t => t.ByteLength);

    /// <summary>Whether the checkpoint has a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The tensor named <paramref name="name"/>, or null.</summary>
    public SourceTensor? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// Opens a checkpoint: a folder of safetensors files (following <c>model.safetensors.index.json</c> when there is one),
    /// one <c>.safetensors</c> file, or one <c>.gguf</c> file. <c>config.json</c> is read from the folder when present.
    /// </summary>
    /// <exception cref="QuantFormatException">A file is not a valid safetensors or GGUF file, two files hold the same tensor, or the folder holds none.</exception>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    public static CheckpointSource Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = System.IO.Path.GetFullPath(path);
        if (System.IO.Directory.Exists(full)) return OpenSafetensors(full, full, ShardedVarBuilder.CheckpointFiles(full));
        if (!File.Exists(full)) throw new FileNotFoundException($"The checkpoint '{path}' does not exist.", path);
        string directory = System.IO.Path.GetDirectoryName(full) ?? ".";
        Span<byte> head = stackalloc byte[4];
        using (var stream = File.OpenRead(full)) head = head[..stream.ReadAtLeast(head, 4, throwOnEndOfStream: false)];
        return GgufFile.HasMagic(head) ? OpenGguf(full, directory) : OpenSafetensors(full, directory, [full]);
    }

    private static CheckpointSource OpenSafetensors(string path, string directory, IReadOnlyList<string> files)
    {
        var opened = new List<SafetensorsFile>();
        var handles = new List<SafeFileHandle>();
        try
        {
            var tensors = new List<SourceTensor>();
            var seen = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int f = 0; f < files.Count; f++)
            {
                var file = SafetensorsFile.Open(files[f]);
                opened.Add(file);
                handles.Add(File.OpenHandle(files[f], FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess));
                foreach (var e in file.Entries)
                {
                    if (!seen.TryAdd(e.Name, files[f])) throw new QuantFormatException($"Tensor '{e.Name}' is in both {seen[e.Name]} and {files[f]}.");
                    tensors.Add(new SourceTensor(e.Name, e.DType, null, e.Shape, e.Length, f, e.Offset));
                }
            }
            string? config = ReadText(System.IO.Path.Combine(directory, "config.json"));
            // The headers were checked; the maps are not needed for positional reads.
            foreach (var file in opened) file.Dispose();
            return new CheckpointSource(CheckpointKind.Safetensors, path, directory, files.Select(System.IO.Path.GetFullPath).ToArray(), handles.ToArray(), [], tensors, config, null);
        }
        catch
        {
            foreach (var f in opened) f.Dispose();
            foreach (var h in handles) h.Dispose();
            throw;
        }
    }

    private static CheckpointSource OpenGguf(string path, string directory)
    {
        var gguf = GgufFile.Open(path);
        SafeFileHandle? handle = null;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
            var tensors = new List<SourceTensor>();
            foreach (var t in gguf.Tensors)
            {
                var shape = t.Shape;
                if (shape.Any(d => d > int.MaxValue)) throw new QuantFormatException($"{path}: tensor '{t.Name}' has a dimension past {int.MaxValue}.");
                tensors.Add(new SourceTensor(t.Name, t.Type == GgufTensorType.F32 ? DType.F32 : null, t.Type == GgufTensorType.F32 ? null : t.Type,
                    Array.ConvertAll(shape, d => (int)d), t.ByteCount, 0, t.FileOffset));
            }
            return new CheckpointSource(CheckpointKind.Gguf, path, directory, [path], [handle], [gguf], tensors, null, gguf);
        }
        catch
        {
            handle?.Dispose();
            gguf.Dispose();
            throw;
        }
    }

    /// <summary>Reads <c>destination.Length</c> bytes of <paramref name="tensor"/>'s data from byte <paramref name="start"/> of it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the tensor.</exception>
    /// <exception cref="QuantFormatException">The file ended early (it changed after it was opened).</exception>
    public void ReadBytes(SourceTensor tensor, long start, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (start < 0 || start > tensor.ByteLength - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(start), string.Create(CultureInfo.InvariantCulture, $"Bytes [{start}, {start + destination.Length}) are not inside tensor '{tensor.Name}' ({tensor.ByteLength} bytes)."));
        var handle = _handles[tensor.File];
        long offset = tensor.Offset + start;
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(handle, destination, offset);
            if (read == 0) throw new QuantFormatException($"{DataFiles[tensor.File]} ended inside tensor '{tensor.Name}': the file changed after it was opened.");
            destination = destination[read..];
            offset += read;
        }
    }

    /// <summary>The whole of <paramref name="tensor"/>'s bytes in a new array (at most 2 GiB).</summary>
    public byte[] ReadBytes(SourceTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        var bytes = new byte[CheckedLength(tensor, tensor.ByteLength)];
        ReadBytes(tensor, 0, bytes);
        return bytes;
    }

    /// <summary>
    /// Slice <paramref name="index"/> along the leading dimension of <paramref name="tensor"/> (one expert of <c>[E, ...]</c>)
    /// as a tensor in its stored dtype, in memory this call allocates.
    /// </summary>
    public HostTensor ReadSlice(SourceTensor tensor, int index)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.DType is not DType dtype) throw new InvalidOperationException($"Tensor '{tensor.Name}' is a ggml-typed tensor; read it with ReadFloats.");
        int[] inner = tensor.Shape[1..];
        long length = HostTensor.ByteCountOf(dtype, inner);
        var bytes = new byte[CheckedLength(tensor, length)];
        ReadBytes(tensor, index * length, bytes);
        return HostTensor.FromOwnedBytes(dtype, inner, bytes);
    }

    /// <summary>The whole of <paramref name="tensor"/> in its stored dtype (F32 for a GGUF tensor of another type, dequantized).</summary>
    public HostTensor Read(SourceTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.DType is DType dtype) return HostTensor.FromOwnedBytes(dtype, tensor.Shape, ReadBytes(tensor));
        return HostTensor.FromArray(ReadFloats(tensor, 0, 1), tensor.Shape);
    }

    /// <summary>
    /// <paramref name="count"/> consecutive slices along the leading dimension from <paramref name="first"/> as float32
    /// (F16, BF16 and F64 converted, GGUF block types dequantized), row-major.
    /// </summary>
    public float[] ReadFloats(SourceTensor tensor, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        int leading = tensor.Shape.Length == 0 ? 1 : tensor.Shape[0];
        if (tensor.Shape.Length == 0) (first, count) = (0, 1);
        long sliceElements = tensor.Shape.Length == 0 ? 1 : HostTensor.ElementCountOf(tensor.Shape.AsSpan(1));
        if (first < 0 || count < 0 || first > leading - count) throw new ArgumentOutOfRangeException(nameof(first));
        long elements = sliceElements * count;
        var values = new float[CheckedLength(tensor, elements)];
        if (tensor.DType is DType dtype)
        {
            if (!dtype.IsFloat() || dtype is DType.F8E4M3 or DType.F8E5M2)
                throw new QuantFormatException($"Tensor '{tensor.Name}' is {dtype}; only float tensors (F32, F16, BF16, F64) convert.");
            var bytes = new byte[CheckedLength(tensor, elements * dtype.Size())];
            ReadBytes(tensor, first * sliceElements * dtype.Size(), bytes);
            HostTensor.ConvertToFloat32(dtype, bytes, values);
            return values;
        }
        var type = tensor.GgufType!;
        int columns = tensor.Shape[^1];
        long rows = elements / Math.Max(columns, 1);
        long rowBytes = type.ByteCount([columns]);
        var raw = new byte[CheckedLength(tensor, rows * rowBytes)];
        ReadBytes(tensor, first * sliceElements / Math.Max(columns, 1) * rowBytes, raw);
        if (rows > 0)
        {
            var matrix = new QuantMatrix(type.Format!.Info, checked((int)rows), columns, [raw]);
            FormatKernels.For(type.Format).Dequantize(matrix, values);
        }
        return values;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var h in _handles) h.Dispose();
        foreach (var o in _owned) o.Dispose();
    }

    private string? Existing(string name)
    {
        string p = System.IO.Path.Combine(Directory, name);
        return File.Exists(p) ? p : null;
    }

    private static string? ReadText(string path)
    {
        if (!File.Exists(path)) return null;
        var bytes = File.ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new QuantFormatException($"{path} is not UTF-8 text.");
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    private static int CheckedLength(SourceTensor tensor, long length) => length <= Array.MaxLength
        ? (int)length
        : throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"Tensor '{tensor.Name}' needs {length} elements or bytes at once, more than one array holds."));
}
