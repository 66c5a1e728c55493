using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Quant.Runtime.Gguf;

/// <summary>
/// A GGUF metadata array: elements of one type (a scalar type, strings, or arrays, which may each have
/// their own element type). Immutable. Arrays read from a file stay encoded in the mapped file and are
/// decoded when asked (<see cref="ToArray{T}"/>, <see cref="ToStringArray"/>, <see cref="Elements"/>), so a
/// vocabulary of 150k tokens costs nothing until it is used; such arrays are valid while their
/// <see cref="GgufFile"/> is open.
/// </summary>
public sealed class GgufArray
{
    // Exactly one of the two: the elements as a typed C# array (byte[] ... double[], string[], GgufArray[]),
    // or their encoding as it stands in a file (checked when the file was opened).
    private readonly Array? _items;
    private readonly ReadOnlyMemory<byte> _encoded;

    private GgufArray(GgufValueType elementType, int count, Array? items, ReadOnlyMemory<byte> encoded)
    {
        ElementType = elementType;
        Count = count;
        _items = items;
        _encoded = encoded;
    }

    /// <summary>The type of every element.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>The number of elements.</summary>
    public int Count { get; }

    /// <summary>An array of u8.</summary>
    public static GgufArray Of(params byte[] values) => Wrap(GgufValueType.UInt8, values);

    /// <summary>An array of i8.</summary>
    public static GgufArray Of(params sbyte[] values) => Wrap(GgufValueType.Int8, values);

    /// <summary>An array of u16.</summary>
    public static GgufArray Of(params ushort[] values) => Wrap(GgufValueType.UInt16, values);

    /// <summary>An array of i16.</summary>
    public static GgufArray Of(params short[] values) => Wrap(GgufValueType.Int16, values);

    /// <summary>An array of u32.</summary>
    public static GgufArray Of(params uint[] values) => Wrap(GgufValueType.UInt32, values);

    /// <summary>An array of i32.</summary>
    public static GgufArray Of(params int[] values) => Wrap(GgufValueType.Int32, values);

    /// <summary>An array of f32.</summary>
    public static GgufArray Of(params float[] values) => Wrap(GgufValueType.Float32, values);

    /// <summary>An array of bool.</summary>
    public static GgufArray Of(params bool[] values) => Wrap(GgufValueType.Bool, values);

    /// <summary>An array of u64.</summary>
    public static GgufArray Of(params ulong[] values) => Wrap(GgufValueType.UInt64, values);

    /// <summary>An array of i64.</summary>
    public static GgufArray Of(params long[] values) => Wrap(GgufValueType.Int64, values);

    /// <summary>An array of f64.</summary>
    public static GgufArray Of(params double[] values) => Wrap(GgufValueType.Float64, values);

    /// <summary>An array of strings.</summary>
    /// <exception cref="ArgumentException">An element is null.</exception>
    public static GgufArray Of(params string[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (Array.IndexOf(values, null) >= 0) throw new ArgumentException("A GGUF string array cannot hold null.", nameof(values));
        return Wrap(GgufValueType.String, values);
    }

    /// <summary>An array of arrays (each with its own element type).</summary>
    /// <exception cref="ArgumentException">An element is null.</exception>
    public static GgufArray Of(params GgufArray[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (Array.IndexOf(values, null) >= 0) throw new ArgumentException("A GGUF array of arrays cannot hold null.", nameof(values));
        return Wrap(GgufValueType.Array, values);
    }

    /// <summary>An array still in its file encoding (the reader checked it).</summary>
    internal static GgufArray FromEncoded(GgufValueType elementType, int count, ReadOnlyMemory<byte> elements)
        => new(elementType, count, null, elements);

    private static GgufArray Wrap(GgufValueType type, Array values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new(type, values.Length, (Array)values.Clone(), default);
    }

    /// <summary>True when the elements are still encoded in a file (<see cref="EncodedElements"/>).</summary>
    internal bool IsEncoded => _items is null;

    /// <summary>The elements' bytes as they stand in the file (only when <see cref="IsEncoded"/>).</summary>
    internal ReadOnlySpan<byte> EncodedElements => _encoded.Span;

    /// <summary>The elements in memory (only when not <see cref="IsEncoded"/>).</summary>
    internal Array? Items => _items;

    /// <summary>A copy of the elements of a scalar array as <typeparamref name="T"/> (<see cref="byte"/> for u8 ... <see cref="double"/> for f64, <see cref="bool"/> for bool).</summary>
    /// <exception cref="InvalidCastException"><typeparamref name="T"/> is not the C# type of <see cref="ElementType"/>.</exception>
    public T[] ToArray<T>() where T : unmanaged
    {
        if (GgufLayout.ScalarType(typeof(T)) != ElementType)
        {
            throw new InvalidCastException($"The array holds {GgufLayout.TypeName(ElementType)} elements, not {typeof(T).Name}.");
        }
        // The reader checked that every bool byte is 0 or 1, so the bytes are valid C# bools as they are.
        return _items is T[] items ? (T[])items.Clone() : MemoryMarshal.Cast<byte, T>(_encoded.Span).ToArray();
    }

    /// <summary>A copy of the elements of a string array.</summary>
    /// <exception cref="InvalidCastException">The array does not hold strings.</exception>
    public string[] ToStringArray()
    {
        if (ElementType != GgufValueType.String) throw new InvalidCastException($"The array holds {GgufLayout.TypeName(ElementType)} elements, not strings.");
        if (_items is string[] items) return (string[])items.Clone();
        var result = new string[Count];
        int at = 0;
        var span = _encoded.Span;
        for (int i = 0; i < result.Length; i++) result[i] = GgufLayout.DecodeString(span, ref at);
        return result;
    }

    /// <summary>The elements of an array of arrays.</summary>
    /// <exception cref="InvalidCastException">The array does not hold arrays.</exception>
    public GgufArray[] ToArrays()
    {
        if (ElementType != GgufValueType.Array) throw new InvalidCastException($"The array holds {GgufLayout.TypeName(ElementType)} elements, not arrays.");
        if (_items is GgufArray[] items) return (GgufArray[])items.Clone();
        var result = new GgufArray[Count];
        int at = 0;
        for (int i = 0; i < result.Length; i++) result[i] = GgufLayout.DecodeNestedArray(_encoded, ref at);
        return result;
    }

    /// <summary>The elements one by one, as values (decoded lazily; the first few of a long array cost little).</summary>
    public IEnumerable<GgufValue> Elements()
    {
        if (ElementType == GgufValueType.String)
        {
            if (_items is string[] strings)
            {
                foreach (var s in strings) yield return GgufValue.FromString(s);
                yield break;
            }
            int at = 0;
            for (int i = 0; i < Count; i++) yield return GgufValue.FromString(GgufLayout.DecodeString(_encoded.Span, ref at));
        }
        else if (ElementType == GgufValueType.Array)
        {
            if (_items is GgufArray[] arrays)
            {
                foreach (var a in arrays) yield return GgufValue.FromArray(a);
                yield break;
            }
            int at = 0;
            for (int i = 0; i < Count; i++) yield return GgufValue.FromArray(GgufLayout.DecodeNestedArray(_encoded, ref at));
        }
        else
        {
            for (int i = 0; i < Count; i++) yield return ScalarAt(i);
        }
    }

    private GgufValue ScalarAt(int index)
    {
        if (_items is not null)
        {
            // By element type, not by the C# array's type: the runtime lets an sbyte[] pass as a byte[] (and
            // short[] as ushort[], and so on), so a pattern on the array type would read i8 elements as u8.
            return ElementType switch
            {
                GgufValueType.UInt8 => GgufValue.FromUInt8(((byte[])_items)[index]),
                GgufValueType.Int8 => GgufValue.FromInt8(((sbyte[])_items)[index]),
                GgufValueType.UInt16 => GgufValue.FromUInt16(((ushort[])_items)[index]),
                GgufValueType.Int16 => GgufValue.FromInt16(((short[])_items)[index]),
                GgufValueType.UInt32 => GgufValue.FromUInt32(((uint[])_items)[index]),
                GgufValueType.Int32 => GgufValue.FromInt32(((int[])_items)[index]),
                GgufValueType.Float32 => GgufValue.FromFloat32(((float[])_items)[index]),
                GgufValueType.Bool => GgufValue.FromBool(((bool[])_items)[index]),
                GgufValueType.UInt64 => GgufValue.FromUInt64(((ulong[])_items)[index]),
                GgufValueType.Int64 => GgufValue.FromInt64(((long[])_items)[index]),
                GgufValueType.Float64 => GgufValue.FromFloat64(((double[])_items)[index]),
                _ => throw new InvalidOperationException("Unreachable: a scalar array of a non-scalar type."),
            };
        }
        int size = GgufLayout.ScalarSize(ElementType);
        return GgufValue.FromBits(ElementType, GgufLayout.ReadBits(_encoded.Span.Slice(index * size, size)));
    }

    /// <summary>Whether two arrays have the same element type and the same elements (floats bit for bit).</summary>
    public bool ContentEquals(GgufArray other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ElementType != other.ElementType || Count != other.Count) return false;
        using var a = Elements().GetEnumerator();
        using var b = other.Elements().GetEnumerator();
        while (a.MoveNext() && b.MoveNext())
        {
            if (!a.Current.ContentEquals(b.Current)) return false;
        }
        return true;
    }

    /// <summary><c>[type x count]</c>, for example <c>[string x 32000]</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{GgufLayout.TypeName(ElementType)} x {Count}]");
}
