using System;
using System.Collections.Generic;
using System.Globalization;

namespace Quant.Runtime.Gguf;

/// <summary>A tensor to write: its name, its dims (fastest first, as GGUF and ggml store them) and its type.</summary>
/// <param name="Name">The GGUF name (<c>blk.0.attn_q.weight</c>); at most 63 UTF-8 bytes, as llama.cpp requires.</param>
/// <param name="Dims">1 to 4 dims, fastest first: a row-major <c>[N, K]</c> matrix is <c>[K, N]</c>.</param>
/// <param name="Type">The tensor type; <c>Dims[0]</c> must be a multiple of its block size.</param>
public sealed record GgufTensorSpec(string Name, long[] Dims, GgufTensorType Type)
{
    /// <summary>A row-major <c>[rows, columns]</c> matrix: dims <c>[columns, rows]</c>.</summary>
    public static GgufTensorSpec Matrix(string name, int rows, int columns, GgufTensorType type) => new(name, [columns, rows], type);

    /// <summary>A vector of <paramref name="length"/> elements.</summary>
    public static GgufTensorSpec Vector(string name, int length, GgufTensorType type) => new(name, [length], type);
}

/// <summary>A tensor of a GGUF file as its tensor info describes it, with its checked place in the file.</summary>
public sealed class GgufTensorInfo
{
    private readonly long[] _dims;

    internal GgufTensorInfo(string name, long[] dims, GgufTensorType type, long offset, long fileOffset, long byteCount, long infoOffset)
    {
        Name = name;
        _dims = dims;
        Type = type;
        Offset = offset;
        FileOffset = fileOffset;
        ByteCount = byteCount;
        InfoOffset = infoOffset;
    }

    /// <summary>The tensor's name.</summary>
    public string Name { get; }

    /// <summary>The dims, fastest first (ggml's <c>ne</c>): a row-major <c>[N, K]</c> matrix has dims <c>[K, N]</c>.</summary>
    public IReadOnlyList<long> Dims => _dims;

    /// <summary>The type.</summary>
    public GgufTensorType Type { get; }

    /// <summary>The offset of the data from the start of the data section, as the file states it.</summary>
    public long Offset { get; }

    /// <summary>The offset of the data from the start of the file.</summary>
    public long FileOffset { get; internal set; }

    /// <summary>Bytes of data.</summary>
    public long ByteCount { get; }

    /// <summary>Where the tensor info record starts in the file.</summary>
    public long InfoOffset { get; }

    /// <summary>Elements: the product of the dims.</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long d in _dims) count *= d;
            return count;
        }
    }

    /// <summary>Elements per row: <c>Dims[0]</c>.</summary>
    public long Columns => _dims[0];

    /// <summary>Rows: the product of every dim but the first.</summary>
    public long Rows => _dims[0] == 0 ? 0 : ElementCount / _dims[0];

    /// <summary>The dims slowest first, as PyTorch and safetensors write shapes: <c>[N, K]</c>.</summary>
    public long[] Shape
    {
        get
        {
            var shape = (long[])_dims.Clone();
            Array.Reverse(shape);
            return shape;
        }
    }

    /// <inheritdoc/>
    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"{Name} {Type.Name} [{string.Join(", ", _dims)}] {ByteCount} bytes at {FileOffset}");
}
