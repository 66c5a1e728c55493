using System;
using System.Collections.Concurrent;
using System.Globalization;
using Quant.Kernels;

namespace Quant.Runtime.Gguf;

/// <summary>
/// A ggml tensor type as GGUF stores it: F32 (id 0) and every registered format with a GGUF type id and
/// one block-record plane (F16 1, Q4_0 2, ..., Q4_K 12, ..., BF16 30, MXFP4 39, and any user format that
/// declares one). It knows the byte size of a tensor of that type.
/// </summary>
public sealed class GgufTensorType
{
    private GgufTensorType(int id, string name, int blockSize, int bytesPerBlock, QuantFormatEntry? format)
    {
        Id = id;
        Name = name;
        BlockSize = blockSize;
        BytesPerBlock = bytesPerBlock;
        Format = format;
    }

    /// <summary>IEEE binary32, ggml type 0: 4 bytes per element, no blocks.</summary>
    public static GgufTensorType F32 { get; } = new(0, "f32", 1, 4, null);

    /// <summary>The ggml type id (<c>enum ggml_type</c>).</summary>
    public int Id { get; }

    /// <summary>The type's name: <c>f32</c>, or the registered format's name (<c>q4_K</c>, <c>f16</c>, <c>mxfp4_ggml</c>).</summary>
    public string Name { get; }

    /// <summary>Elements per block along the fastest dimension (1 for F32, F16, BF16).</summary>
    public int BlockSize { get; }

    /// <summary>Bytes of one block.</summary>
    public int BytesPerBlock { get; }

    /// <summary>The registered format, or null for F32.</summary>
    public QuantFormatEntry? Format { get; }

    // One instance per registered format, so that reading a file's tensor table allocates no types.
    private static readonly ConcurrentDictionary<QuantFormatEntry, GgufTensorType> s_types = new();

    /// <summary>The type with ggml id <paramref name="id"/>, or null when neither F32 nor a registered format with one block-record plane has it.</summary>
    public static GgufTensorType? Find(long id)
    {
        if (id == 0) return F32;
        if (id < 0 || id > int.MaxValue) return null;
        QuantCatalog.EnsureRegistered();
        foreach (var entry in QuantFormatRegistry.All)
        {
            if (entry.Info.GgufType == id) return IsBlockRecord(entry.Info) ? FromEntry(entry) : null;
        }
        return null;
    }

    /// <summary>The type of <paramref name="format"/>.</summary>
    /// <exception cref="QuantFormatException">The format has no GGUF type id, or more than one plane (GGUF stores one block record per block).</exception>
    public static GgufTensorType Of(QuantFormatEntry format)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (format.Info.GgufType < 0) throw new QuantFormatException($"Format '{format.Info.Name}' has no GGUF type id.");
        if (!IsBlockRecord(format.Info))
        {
            throw new QuantFormatException($"Format '{format.Info.Name}' stores {format.Info.Planes.Count} planes; a GGUF tensor holds one block record per block.");
        }
        return FromEntry(format);
    }

    /// <summary>The type named <paramref name="name"/>: <c>f32</c> or a registered format's name (case-insensitive).</summary>
    /// <exception cref="QuantFormatException">No such format, or it cannot be a GGUF tensor type.</exception>
    public static GgufTensorType Get(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (string.Equals(name, "f32", StringComparison.OrdinalIgnoreCase)) return F32;
        QuantCatalog.EnsureRegistered();
        return Of(QuantFormatRegistry.Get(name));
    }

    private static bool IsBlockRecord(QuantFormatInfo info) => info.Planes.Count == 1 && info.Planes[0].Extent == PlaneExtent.Block;

    private static GgufTensorType FromEntry(QuantFormatEntry entry)
        => s_types.GetOrAdd(entry, static e => new(e.Info.GgufType, e.Info.Name, e.Info.BlockSize, e.Info.BytesPerBlock, e));

    /// <summary>
    /// Bytes of a tensor of this type with <paramref name="dims"/> (fastest first): <c>dims[0] / BlockSize</c>
    /// blocks per row, times the product of the other dims.
    /// </summary>
    /// <returns>The byte count, or null with <paramref name="problem"/> set when dims[0] is not a multiple of the block size, a dim is negative, or the count overflows.</returns>
    public long? TryByteCount(ReadOnlySpan<long> dims, out string? problem)
    {
        problem = null;
        if (dims.Length == 0)
        {
            problem = "has no dimensions";
            return null;
        }
        foreach (long d in dims)
        {
            if (d < 0)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"has a negative dimension {d}");
                return null;
            }
        }
        if (dims[0] % BlockSize != 0)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"has dims[0] = {dims[0]}, not a multiple of {Name}'s block size {BlockSize}");
            return null;
        }
        try
        {
            long bytes = checked(dims[0] / BlockSize * BytesPerBlock);
            for (int i = 1; i < dims.Length; i++) bytes = checked(bytes * dims[i]);
            return bytes;
        }
        catch (OverflowException)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"has dims [{string.Join(", ", dims.ToArray())}] whose byte count overflows 64 bits");
            return null;
        }
    }

    /// <summary>Bytes of a tensor of this type with <paramref name="dims"/> (fastest first).</summary>
    /// <exception cref="QuantFormatException">dims[0] is not a multiple of the block size, a dim is negative, or the count overflows.</exception>
    public long ByteCount(ReadOnlySpan<long> dims)
        => TryByteCount(dims, out string? problem) ?? throw new QuantFormatException($"A {Name} tensor {problem}.");

    /// <inheritdoc/>
    public override string ToString() => Name;
}
