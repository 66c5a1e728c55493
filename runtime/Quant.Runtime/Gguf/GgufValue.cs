using System;
using System.Globalization;

namespace Quant.Runtime.Gguf;

/// <summary>
/// One GGUF metadata value: a scalar of one of the twelve scalar types, a string, or an array. Immutable.
/// The implicit conversions pick the GGUF type from the C# type (<c>2u</c> is a u32, <c>2</c> an i32, <c>2f</c> an f32).
/// </summary>
public sealed class GgufValue
{
    private readonly ulong _bits;
    private readonly object? _object;

    private GgufValue(GgufValueType type, ulong bits, object? value)
    {
        Type = type;
        _bits = bits;
        _object = value;
    }

    /// <summary>The value's type.</summary>
    public GgufValueType Type { get; }

    /// <summary>A u8 value.</summary>
    public static GgufValue FromUInt8(byte value) => new(GgufValueType.UInt8, value, null);

    /// <summary>An i8 value.</summary>
    public static GgufValue FromInt8(sbyte value) => new(GgufValueType.Int8, (ulong)(long)value, null);

    /// <summary>A u16 value.</summary>
    public static GgufValue FromUInt16(ushort value) => new(GgufValueType.UInt16, value, null);

    /// <summary>An i16 value.</summary>
    public static GgufValue FromInt16(short value) => new(GgufValueType.Int16, (ulong)(long)value, null);

    /// <summary>A u32 value.</summary>
    public static GgufValue FromUInt32(uint value) => new(GgufValueType.UInt32, value, null);

    /// <summary>An i32 value.</summary>
    public static GgufValue FromInt32(int value) => new(GgufValueType.Int32, (ulong)(long)value, null);

    /// <summary>An f32 value (kept bit for bit, NaN payloads included).</summary>
    public static GgufValue FromFloat32(float value) => new(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(value), null);

    /// <summary>A bool value (stored as one byte, 0 or 1).</summary>
    public static GgufValue FromBool(bool value) => new(GgufValueType.Bool, value ? 1UL : 0UL, null);

    /// <summary>A u64 value.</summary>
    public static GgufValue FromUInt64(ulong value) => new(GgufValueType.UInt64, value, null);

    /// <summary>An i64 value.</summary>
    public static GgufValue FromInt64(long value) => new(GgufValueType.Int64, (ulong)value, null);

    /// <summary>An f64 value (kept bit for bit).</summary>
    public static GgufValue FromFloat64(double value) => new(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(value), null);

    /// <summary>A string value (written as UTF-8).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static GgufValue FromString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(GgufValueType.String, 0, value);
    }

    /// <summary>An array value.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static GgufValue FromArray(GgufArray value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new(GgufValueType.Array, 0, value);
    }

    /// <summary>A scalar of type <paramref name="type"/> from its little-endian bit pattern (the low bytes of <paramref name="bits"/>).</summary>
    internal static GgufValue FromBits(GgufValueType type, ulong bits) => type switch
    {
        GgufValueType.Int8 => FromInt8((sbyte)bits),
        GgufValueType.Int16 => FromInt16((short)bits),
        GgufValueType.Int32 => FromInt32((int)bits),
        GgufValueType.Bool => FromBool(bits != 0),
        GgufValueType.UInt8 => FromUInt8((byte)bits),
        GgufValueType.UInt16 => FromUInt16((ushort)bits),
        GgufValueType.UInt32 => FromUInt32((uint)bits),
        _ => new(type, bits, null),
    };

    /// <summary>Same as <see cref="FromUInt8"/>.</summary>
    public static implicit operator GgufValue(byte value) => FromUInt8(value);

    /// <summary>Same as <see cref="FromInt8"/>.</summary>
    public static implicit operator GgufValue(sbyte value) => FromInt8(value);

    /// <summary>Same as <see cref="FromUInt16"/>.</summary>
    public static implicit operator GgufValue(ushort value) => FromUInt16(value);

    /// <summary>Same as <see cref="FromInt16"/>.</summary>
    public static implicit operator GgufValue(short value) => FromInt16(value);

    /// <summary>Same as <see cref="FromUInt32"/>.</summary>
    public static implicit operator GgufValue(uint value) => FromUInt32(value);

    /// <summary>Same as <see cref="FromInt32"/>.</summary>
    public static implicit operator GgufValue(int value) => FromInt32(value);

    /// <summary>Same as <see cref="FromFloat32"/>.</summary>
    public static implicit operator GgufValue(float value) => FromFloat32(value);

    /// <summary>Same as <see cref="FromBool"/>.</summary>
    public static implicit operator GgufValue(bool value) => FromBool(value);

    /// <summary>Same as <see cref="FromUInt64"/>.</summary>
    public static implicit operator GgufValue(ulong value) => FromUInt64(value);

    /// <summary>Same as <see cref="FromInt64"/>.</summary>
    public static implicit operator GgufValue(long value) => FromInt64(value);

    /// <summary>Same as <see cref="FromFloat64"/>.</summary>
    public static implicit operator GgufValue(double value) => FromFloat64(value);

    /// <summary>Same as <see cref="FromString"/>.</summary>
    public static implicit operator GgufValue(string value) => FromString(value);

    /// <summary>Same as <see cref="FromArray"/>.</summary>
    public static implicit operator GgufValue(GgufArray value) => FromArray(value);

    /// <summary>The scalar's bits, little-endian in the low bytes (floats as their bit pattern); 0 for strings and arrays.</summary>
    internal ulong Bits => _bits;

    /// <summary>True when the value is one of the eight integer types.</summary>
    public bool IsInteger => Type is GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.UInt16 or GgufValueType.Int16
        or GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.UInt64 or GgufValueType.Int64;

    /// <summary>The value of an integer of any width and signedness as a u64, if it is one and not negative.</summary>
    public bool TryGetUInt64(out ulong value)
    {
        value = 0;
        if (!IsInteger) return false;
        if (IsSigned(Type) && (long)_bits < 0) return false;
        value = _bits;
        return true;
    }

    /// <summary>The value of an integer of any width and signedness as an i64, if it is one and fits.</summary>
    public bool TryGetInt64(out long value)
    {
        value = 0;
        if (!IsInteger) return false;
        if (Type == GgufValueType.UInt64 && _bits > long.MaxValue) return false;
        value = (long)_bits;
        return true;
    }

    /// <summary>The f32 value.</summary>
    /// <exception cref="InvalidCastException">The value is not an f32.</exception>
    public float AsFloat32() => Type == GgufValueType.Float32 ? BitConverter.UInt32BitsToSingle((uint)_bits) : throw Mismatch(GgufValueType.Float32);

    /// <summary>The f64 value, or an f32 widened exactly.</summary>
    /// <exception cref="InvalidCastException">The value is neither an f64 nor an f32.</exception>
    public double AsFloat64() => Type switch
    {
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(_bits),
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)_bits),
        _ => throw Mismatch(GgufValueType.Float64),
    };

    /// <summary>The bool value.</summary>
    /// <exception cref="InvalidCastException">The value is not a bool.</exception>
    public bool AsBool() => Type == GgufValueType.Bool ? _bits != 0 : throw Mismatch(GgufValueType.Bool);

    /// <summary>The string value.</summary>
    /// <exception cref="InvalidCastException">The value is not a string.</exception>
    public string AsString() => _object as string ?? throw Mismatch(GgufValueType.String);

    /// <summary>The array value.</summary>
    /// <exception cref="InvalidCastException">The value is not an array.</exception>
    public GgufArray AsArray() => _object as GgufArray ?? throw Mismatch(GgufValueType.Array);

    /// <summary>The value as a boxed C# value of its own type (<see cref="byte"/> ... <see cref="double"/>, <see cref="string"/>, <see cref="GgufArray"/>).</summary>
    public object ToObject() => Type switch
    {
        GgufValueType.UInt8 => (byte)_bits,
        GgufValueType.Int8 => (sbyte)_bits,
        GgufValueType.UInt16 => (ushort)_bits,
        GgufValueType.Int16 => (short)_bits,
        GgufValueType.UInt32 => (uint)_bits,
        GgufValueType.Int32 => (int)_bits,
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)_bits),
        GgufValueType.Bool => _bits != 0,
        GgufValueType.UInt64 => _bits,
        GgufValueType.Int64 => (long)_bits,
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(_bits),
        _ => _object!,
    };

    /// <summary>The value in invariant notation: integers in decimal, floats in round-trip form, strings as they are, arrays as <c>[type x count]</c>.</summary>
    public override string ToString() => Type switch
    {
        GgufValueType.String => (string)_object!,
        GgufValueType.Array => _object!.ToString()!,
        GgufValueType.Float32 => AsFloat32().ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Float64 => AsFloat64().ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Bool => _bits != 0 ? "true" : "false",
        _ => Convert.ToString(ToObject(), CultureInfo.InvariantCulture)!,
    };

    /// <summary>Whether two values have the same type and the same content (floats bit for bit, arrays element by element).</summary>
    public bool ContentEquals(GgufValue other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (Type != other.Type) return false;
        return Type switch
        {
            GgufValueType.String => string.Equals((string)_object!, (string)other._object!, StringComparison.Ordinal),
            GgufValueType.Array => ((GgufArray)_object!).ContentEquals((GgufArray)other._object!),
            _ => _bits == other._bits,
        };
    }

    internal static bool IsSigned(GgufValueType type) => type is GgufValueType.Int8 or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64;

    private InvalidCastException Mismatch(GgufValueType wanted)
        => new($"The value is {GgufLayout.Describe(this)}, not {GgufLayout.TypeName(wanted)}.");
}
