using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Quant.Numerics;

namespace Quant.Runtime.Tensors;

/// <summary>
/// A dense, contiguous, row-major tensor in host memory: a dtype, a shape and its bytes, owned (an array)
/// or borrowed (a view of a memory-mapped file, kept valid by whoever opened the file). Not a general
/// tensor library: what the layers and the file formats need. Views (<see cref="Reshape"/>, <see cref="Index"/>,
/// <see cref="Narrow"/> on the leading dimension) share bytes; everything else copies.
/// </summary>
public sealed class HostTensor
{
    private readonly int[] _shape;
    private readonly ReadOnlyMemory<byte> _bytes;
    private readonly Memory<byte> _writable;

    private HostTensor(DType dtype, int[] shape, ReadOnlyMemory<byte> bytes, Memory<byte> writable)
    {
        DType = dtype;
        _shape = shape;
        _bytes = bytes;
        _writable = writable;
    }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>The dimensions, outermost first.</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements (the product of the dimensions; 1 for a scalar).</summary>
    public long ElementCount => ElementCountOf(_shape);

    /// <summary>The tensor's bytes, row-major, little-endian.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes.Span;

    /// <summary>The tensor's bytes as memory.</summary>
    public ReadOnlyMemory<byte> Memory => _bytes;

    /// <summary>Whether the bytes may be written (<see cref="AsWritableSpan{T}"/>): true for tensors this process allocated.</summary>
    public bool IsWritable => !_writable.IsEmpty || _bytes.IsEmpty;

    /// <summary>The size of dimension <paramref name="dim"/>; negative counts from the end (-1 is the last).</summary>
    public int Dim(int dim) => _shape[NormalizeDim(dim)];

    /// <summary>A copy of the dimensions.</summary>
    public int[] Dims() => (int[])_shape.Clone();

    /// <summary>A new zero-filled tensor.</summary>
    public static HostTensor Zeros(DType dtype, params int[] shape)
    {
        long bytes = checked(ByteCountOf(dtype, shape));
        if (bytes > Array.MaxLength) throw new ArgumentException($"A {ShapeText(shape)} {dtype} tensor of {bytes} bytes does not fit in one array.", nameof(shape));
        var array = new byte[bytes];
        return new HostTensor(dtype, (int[])shape.Clone(), array, array);
    }

    /// <summary>A tensor over <paramref name="values"/> (not copied; the tensor is writable through it).</summary>
    /// <exception cref="ArgumentException">The shape does not hold <c>values.Length</c> elements, or <typeparamref name="T"/> has no dtype.</exception>
    public static HostTensor FromArray<T>(T[] values, params int[] shape) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(values);
        var dtype = DTypeOf<T>();
        if (ElementCountOf(shape) != values.Length)
            throw new ArgumentException($"Shape {ShapeText(shape)} holds {ElementCountOf(shape)} elements, not {values.Length}.", nameof(shape));
        var memory = new ArrayByteMemory<T>(values).Memory;
        return new HostTensor(dtype, (int[])shape.Clone(), memory, memory);
    }

    /// <summary>A float32 tensor over a copy of <paramref name="values"/>.</summary>
    public static HostTensor FromFloats(ReadOnlySpan<float> values, params int[] shape) => FromArray(values.ToArray(), shape);

    /// <summary>A read-only tensor over <paramref name="bytes"/> (a view of a mapped file, usually).</summary>
    /// <exception cref="QuantFormatException">The byte count does not match the dtype and shape.</exception>
    public static HostTensor FromBytes(DType dtype, int[] shape, ReadOnlyMemory<byte> bytes, string what = "tensor")
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Any(d => d < 0)) throw new QuantFormatException($"{what}: shape {ShapeText(shape)} has a negative dimension.");
        long expected = ByteCountOf(dtype, shape);
        if (expected != bytes.Length)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{what}: a {dtype} tensor of shape {ShapeText(shape)} has {expected} bytes, not {bytes.Length}."));
        return new HostTensor(dtype, (int[])shape.Clone(), bytes, default);
    }

    /// <summary>A writable tensor that owns <paramref name="bytes"/> (not copied).</summary>
    public static HostTensor FromOwnedBytes(DType dtype, int[] shape, byte[] bytes)
    {
        var tensor = FromBytes(dtype, shape, bytes);
        return new HostTensor(dtype, tensor._shape, bytes, bytes);
    }

    /// <summary>The elements as <typeparamref name="T"/>; its size must be the dtype's (e.g. float for F32, ushort or Half for F16), or byte for the raw bytes.</summary>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged
    {
        CheckElement<T>();
        return MemoryMarshal.Cast<byte, T>(_bytes.Span);
    }

    /// <summary>The elements as a writable span.</summary>
    /// <exception cref="InvalidOperationException">The tensor borrows its bytes (a mapped file).</exception>
    public Span<T> AsWritableSpan<T>() where T : unmanaged
    {
        CheckElement<T>();
        if (!IsWritable) throw new InvalidOperationException("This tensor is a read-only view (of a mapped file); copy it with Clone() to write.");
        return MemoryMarshal.Cast<byte, T>(_writable.Span);
    }

    /// <summary>A writable copy.</summary>
    public HostTensor Clone() => FromOwnedBytes(DType, _shape, _bytes.ToArray());

    /// <summary>The same bytes with another shape of the same element count; one dimension may be -1 (inferred).</summary>
    public HostTensor Reshape(params int[] shape)
    {
        var resolved = (int[])shape.Clone();
        int infer = Array.IndexOf(resolved, -1);
        if (infer >= 0)
        {
            long known = 1;
            for (int i = 0; i < resolved.Length; i++) if (i != infer) known *= resolved[i];
            if (known == 0 || ElementCount % known != 0) throw new ArgumentException($"Cannot reshape {ShapeText(_shape)} to {ShapeText(shape)}.", nameof(shape));
            resolved[infer] = checked((int)(ElementCount / known));
        }
        if (ElementCountOf(resolved) != ElementCount) throw new ArgumentException($"Cannot reshape {ShapeText(_shape)} to {ShapeText(shape)}.", nameof(shape));
        return new HostTensor(DType, resolved, _bytes, _writable);
    }

    /// <summary>The sub-tensor <c>this[i]</c> (a view without the leading dimension).</summary>
    public HostTensor Index(int i)
    {
        if (Rank == 0) throw new InvalidOperationException("A scalar has no leading dimension.");
        if ((uint)i >= (uint)_shape[0]) throw new ArgumentOutOfRangeException(nameof(i), i, $"Index out of [0, {_shape[0]}).");
        var inner = _shape[1..];
        long size = ByteCountOf(DType, inner);
        int start = checked((int)(i * size)), length = (int)size;
        return new HostTensor(DType, inner, _bytes.Slice(start, length), _writable.IsEmpty ? default : _writable.Slice(start, length));
    }

    /// <summary>
    /// Elements <c>[start, start + length)</c> along <paramref name="dim"/>: a view when every dimension before
    /// <paramref name="dim"/> is 1, a copy otherwise.
    /// </summary>
    public HostTensor Narrow(int dim, int start, int length)
    {
        dim = NormalizeDim(dim);
        if (start < 0 || length < 0 || start > _shape[dim] - length)
            throw new ArgumentOutOfRangeException(nameof(start), $"[{start}, {start + length}) is not inside dimension {dim} of {ShapeText(_shape)}.");
        var shape = (int[])_shape.Clone();
        shape[dim] = length;
        long outer = 1;
        for (int d = 0; d < dim; d++) outer *= _shape[d];
        long inner = DType.Size();
        for (int d = dim + 1; d < Rank; d++) inner *= _shape[d];
        long run = inner * length, stride = inner * _shape[dim];
        if (outer == 1)
        {
            int offset = checked((int)(inner * start));
            return new HostTensor(DType, shape, _bytes.Slice(offset, (int)run), _writable.IsEmpty ? default : _writable.Slice(offset, (int)run));
        }
        var result = Zeros(DType, shape);
        var source = _bytes.Span;
        var destination = result._writable.Span;
        for (long o = 0; o < outer; o++)
            source.Slice((int)(o * stride + inner * start), (int)run).CopyTo(destination.Slice((int)(o * run), (int)run));
        return result;
    }

    /// <summary>A copy with dimensions <paramref name="dim0"/> and <paramref name="dim1"/> swapped.</summary>
    public HostTensor Transpose(int dim0, int dim1)
    {
        dim0 = NormalizeDim(dim0);
        dim1 = NormalizeDim(dim1);
        if (dim0 == dim1) return Clone();
        var shape = (int[])_shape.Clone();
        (shape[dim0], shape[dim1]) = (shape[dim1], shape[dim0]);
        var result = Zeros(DType, shape);
        int size = DType.Size();
        if (Math.Min(dim0, dim1) == Rank - 2 && Math.Max(dim0, dim1) == Rank - 1)
        {
            TransposeLastTwo(result, size);
            return result;
        }
        var sourceStrides = Strides(_shape);
        var destinationStrides = Strides(shape);
        var source = _bytes.Span;
        var destination = result._writable.Span;
        var index = new int[Rank];
        for (long e = 0; e < ElementCount; e++)
        {
            long s = 0, d = 0;
            for (int i = 0; i < Rank; i++)
            {
                s += index[i] * sourceStrides[i];
                int j = i == dim0 ? dim1 : i == dim1 ? dim0 : i;
                d += index[i] * destinationStrides[j];
            }
            source.Slice((int)(s * size), size).CopyTo(destination.Slice((int)(d * size), size));
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (++index[i] < _shape[i]) break;
                index[i] = 0;
            }
        }
        return result;
    }

    private void TransposeLastTwo(HostTensor result, int size)
    {
        int rows = _shape[^2], columns = _shape[^1];
        long matrix = (long)rows * columns;
        long batches = matrix == 0 ? 0 : ElementCount / matrix;
        switch (size)
        {
            case 1: TransposeBatches(MemoryMarshal.Cast<byte, byte>(_bytes.Span), MemoryMarshal.Cast<byte, byte>(result._writable.Span), batches, rows, columns); break;
            case 2: TransposeBatches(MemoryMarshal.Cast<byte, ushort>(_bytes.Span), MemoryMarshal.Cast<byte, ushort>(result._writable.Span), batches, rows, columns); break;
            case 4: TransposeBatches(MemoryMarshal.Cast<byte, uint>(_bytes.Span), MemoryMarshal.Cast<byte, uint>(result._writable.Span), batches, rows, columns); break;
            default: TransposeBatches(MemoryMarshal.Cast<byte, ulong>(_bytes.Span), MemoryMarshal.Cast<byte, ulong>(result._writable.Span), batches, rows, columns); break;
        }
    }

    private static void TransposeBatches<T>(ReadOnlySpan<T> source, Span<T> destination, long batches, int rows, int columns)
    {
        // Tiles of 32 x 32 keep both the reads and the writes within a few cache lines.
        const int Tile = 32;
        int matrix = rows * columns;
        for (long b = 0; b < batches; b++)
        {
            var s = source.Slice((int)(b * matrix), matrix);
            var d = destination.Slice((int)(b * matrix), matrix);
            for (int r0 = 0; r0 < rows; r0 += Tile)
            {
                for (int c0 = 0; c0 < columns; c0 += Tile)
                {
                    int r1 = Math.Min(r0 + Tile, rows), c1 = Math.Min(c0 + Tile, columns);
                    for (int r = r0; r < r1; r++)
                        for (int c = c0; c < c1; c++)
                            d[c * rows + r] = s[r * columns + c];
                }
            }
        }
    }

    /// <summary>Concatenates tensors of one dtype along <paramref name="dim"/> (all other dimensions equal).</summary>
    public static HostTensor Concat(IReadOnlyList<HostTensor> tensors, int dim)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Nothing to concatenate.", nameof(tensors));
        var first = tensors[0];
        dim = first.NormalizeDim(dim);
        var shape = first.Dims();
        shape[dim] = 0;
        foreach (var t in tensors)
        {
            if (t.DType != first.DType || t.Rank != first.Rank || Enumerable.Range(0, t.Rank).Any(i => i != dim && t._shape[i] != first._shape[i]))
                throw new ArgumentException($"Cannot concatenate {t.DType} {ShapeText(t._shape)} with {first.DType} {ShapeText(first._shape)} along {dim}.", nameof(tensors));
            shape[dim] += t._shape[dim];
        }
        var result = Zeros(first.DType, shape);
        long outer = 1;
        for (int d = 0; d < dim; d++) outer *= shape[d];
        var destination = result._writable.Span;
        long offset = 0;
        for (long o = 0; o < outer; o++)
        {
            foreach (var t in tensors)
            {
                long run = t._bytes.Length / Math.Max(outer, 1);
                t._bytes.Span.Slice((int)(o * run), (int)run).CopyTo(destination.Slice((int)offset, (int)run));
                offset += run;
            }
        }
        return result;
    }

    /// <summary>Stacks tensors of one dtype and shape along a new leading dimension.</summary>
    public static HostTensor Stack(IReadOnlyList<HostTensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Count == 0) throw new ArgumentException("Nothing to stack.", nameof(tensors));
        return Concat(tensors.Select(t => t.Reshape([1, .. t._shape])).ToArray(), 0);
    }

    /// <summary>The elements converted to float32 (F32, F16, BF16, F64, F8E4M3, F8E5M2).</summary>
    /// <exception cref="InvalidOperationException">The dtype is not a float type.</exception>
    public float[] ToFloat32Array()
    {
        var result = new float[ElementCount];
        CopyToFloat32(result);
        return result;
    }

    /// <summary>Converts the elements to float32 into <paramref name="destination"/> (length <see cref="ElementCount"/>).</summary>
    public void CopyToFloat32(Span<float> destination)
    {
        if (destination.Length != ElementCount) throw new ArgumentException($"The destination holds {destination.Length} floats, not {ElementCount}.", nameof(destination));
        ConvertToFloat32(DType, _bytes.Span, destination);
    }

    /// <summary>Converts <paramref name="source"/> elements of <paramref name="dtype"/> to float32.</summary>
    public static void ConvertToFloat32(DType dtype, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.F16:
            {
                var half = MemoryMarshal.Cast<byte, Half>(source);
                for (int i = 0; i < destination.Length; i++) destination[i] = (float)half[i];
                break;
            }
            case DType.BF16:
            {
                var bits = MemoryMarshal.Cast<byte, ushort>(source);
                for (int i = 0; i < destination.Length; i++) destination[i] = BitConverter.UInt32BitsToSingle((uint)bits[i] << 16);
                break;
            }
            case DType.F64:
            {
                var doubles = MemoryMarshal.Cast<byte, double>(source);
                for (int i = 0; i < destination.Length; i++) destination[i] = (float)doubles[i];
                break;
            }
            case DType.F8E4M3:
                for (int i = 0; i < destination.Length; i++) destination[i] = E4M3.ToSingle(source[i]);
                break;
            case DType.F8E5M2:
                for (int i = 0; i < destination.Length; i++) destination[i] = Minifloat.Decode(source[i], 5, 2, 15, MinifloatSpecials.Ieee);
                break;
            default:
                throw new InvalidOperationException($"{dtype} is not a float dtype; it converts to float32 only by an explicit dequantization.");
        }
    }

    /// <summary>
    /// This tensor in another float dtype (F32, F16 or BF16; BF16 rounds to nearest even); the same instance
    /// when the dtype already matches.
    /// </summary>
    public HostTensor ToDType(DType dtype)
    {
        if (dtype == DType) return this;
        if (!DType.IsFloat() || dtype is not (DType.F32 or DType.F16 or DType.BF16))
            throw new InvalidOperationException($"Cannot convert {DType} to {dtype}: only float dtypes convert, to F32, F16 or BF16.");
        var floats = DType == DType.F32 ? AsSpan<float>() : ToFloat32Array();
        return FromFloats(floats, _shape).ToDTypeFromF32(dtype);
    }

    private HostTensor ToDTypeFromF32(DType dtype)
    {
        if (dtype == DType.F32) return this;
        var result = Zeros(dtype, _shape);
        var source = AsSpan<float>();
        if (dtype == DType.F16) FloatConvert.ToHalf(source, result.AsWritableSpan<Half>());
        else FloatConvert.ToBFloat16(source, result.AsWritableSpan<BFloat16>());
        return result;
    }

    /// <inheritdoc />
    public override string ToString() => $"{DType} {ShapeText(_shape)}";

    /// <summary>The product of <paramref name="shape"/>.</summary>
    public static long ElementCountOf(ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int d in shape) count = checked(count * d);
        return count;
    }

    /// <summary>The bytes of a tensor of <paramref name="dtype"/> and <paramref name="shape"/>.</summary>
    public static long ByteCountOf(DType dtype, ReadOnlySpan<int> shape) => checked(ElementCountOf(shape) * dtype.Size());

    /// <summary><c>[a, b, c]</c>.</summary>
    public static string ShapeText(IReadOnlyList<int> shape) => "[" + string.Join(", ", shape) + "]";

    /// <summary>The dtype stored as <typeparamref name="T"/>.</summary>
    public static DType DTypeOf<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.F32
        : typeof(T) == typeof(Half) ? DType.F16
        : typeof(T) == typeof(BFloat16) ? DType.BF16
        : typeof(T) == typeof(double) ? DType.F64
        : typeof(T) == typeof(byte) ? DType.U8
        : typeof(T) == typeof(sbyte) ? DType.I8
        : typeof(T) == typeof(short) ? DType.I16
        : typeof(T) == typeof(ushort) ? DType.U16
        : typeof(T) == typeof(int) ? DType.I32
        : typeof(T) == typeof(uint) ? DType.U32
        : typeof(T) == typeof(long) ? DType.I64
        : typeof(T) == typeof(ulong) ? DType.U64
        : typeof(T) == typeof(bool) ? DType.Bool
        : throw new ArgumentException($"{typeof(T).Name} has no tensor dtype.");

    private void CheckElement<T>() where T : unmanaged
    {
        // Bytes are always allowed: the raw view of any tensor.
        if (typeof(T) != typeof(byte) && Unsafe.SizeOf<T>() != DType.Size())
            throw new InvalidOperationException($"A {DType} tensor's elements are {DType.Size()} bytes; {typeof(T).Name} is {Unsafe.SizeOf<T>()}.");
    }

    private int NormalizeDim(int dim)
    {
        int d = dim < 0 ? dim + Rank : dim;
        if ((uint)d >= (uint)Rank) throw new ArgumentOutOfRangeException(nameof(dim), dim, $"A tensor of rank {Rank} has no dimension {dim}.");
        return d;
    }

    private static long[] Strides(int[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= shape[i];
        }
        return strides;
    }

    private sealed class ArrayByteMemory<T>(T[] array) : System.Buffers.MemoryManager<byte> where T : unmanaged
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(array.AsSpan());

        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
            unsafe
            {
                return new System.Buffers.MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle);
            }
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
