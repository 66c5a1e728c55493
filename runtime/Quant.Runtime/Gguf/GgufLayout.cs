using System;
using System.Buffers.Binary;
using System.Globalization;
using System.IO;
using System.Text;
using System.Text.Unicode;

namespace Quant.Runtime.Gguf;

/// <summary>
/// The one place that knows GGUF's bytes (v3, little-endian, as ggml's gguf.cpp reads them):
/// <code>
/// u32 magic "GGUF", u32 version, u64 tensor_count, u64 kv_count,
/// kv_count x (string key, u32 value type, value),
/// tensor_count x (string name, u32 n_dims, u64 dims[n_dims] (fastest first), u32 ggml type, u64 offset),
/// padding to general.alignment (default 32), then the tensor data, each tensor at its offset from the
/// start of the data (a multiple of the alignment).
/// string = u64 byte length + UTF-8 bytes; array = u32 element type + u64 count + elements.
/// </code>
/// Version 2 has the same layout and is read too; version 1 (32-bit counts) is not.
/// </summary>
internal static class GgufLayout
{
    /// <summary>"GGUF" read as a little-endian u32.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>The version this code writes.</summary>
    public const uint Version = 3;

    /// <summary>The alignment of the data section and of every tensor when <c>general.alignment</c> is absent.</summary>
    public const int DefaultAlignment = 32;

    /// <summary>The metadata key that sets the alignment (a u32 power of two).</summary>
    public const string AlignmentKey = "general.alignment";

    /// <summary>ggml's GGML_MAX_DIMS.</summary>
    public const int MaxDims = 4;

    /// <summary>ggml's GGML_MAX_NAME: a tensor name must be shorter (in UTF-8 bytes) for llama.cpp to load it.</summary>
    public const int MaxTensorNameBytes = 63;

    /// <summary>How deep arrays may nest; deeper is refused (a corrupt file must not recurse without bound).</summary>
    public const int MaxArrayDepth = 8;

    /// <summary>magic + version + tensor_count + kv_count.</summary>
    public const int HeaderBytes = 24;

    /// <summary>The least a key-value pair can take: a key of one byte, a type, a one-byte value.</summary>
    public const int MinPairBytes = 8 + 1 + 4 + 1;

    /// <summary>The least a tensor info can take: a name of one byte, n_dims, one dim, a type, an offset.</summary>
    public const int MinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;

    /// <summary>The least a nested array element takes: its element type and its count.</summary>
    public const int MinNestedArrayBytes = 4 + 8;

    private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The short name of a value type (<c>u32</c>, <c>string</c>, <c>array</c>), as llama.cpp's gguf-dump names them.</summary>
    public static string TypeName(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "string",
        GgufValueType.Array => "array",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64",
        _ => string.Create(CultureInfo.InvariantCulture, $"type {(uint)type}"),
    };

    /// <summary>"a u32", "an i8", "a string", "an i32 array".</summary>
    public static string Describe(GgufValue value)
    {
        string name = value.Type == GgufValueType.Array ? TypeName(value.AsArray().ElementType) + " array" : TypeName(value.Type);
        return (name.StartsWith('i') || name.StartsWith("array", StringComparison.Ordinal) ? "an " : "a ") + name;
    }

    /// <summary>Bytes of one scalar of <paramref name="type"/>, or 0 for strings and arrays.</summary>
    public static int ScalarSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    /// <summary>The scalar type whose C# type is <paramref name="type"/>, or <see cref="GgufValueType.String"/> if none (never a scalar).</summary>
    public static GgufValueType ScalarType(Type type)
        => type == typeof(byte) ? GgufValueType.UInt8
        : type == typeof(sbyte) ? GgufValueType.Int8
        : type == typeof(ushort) ? GgufValueType.UInt16
        : type == typeof(short) ? GgufValueType.Int16
        : type == typeof(uint) ? GgufValueType.UInt32
        : type == typeof(int) ? GgufValueType.Int32
        : type == typeof(float) ? GgufValueType.Float32
        : type == typeof(bool) ? GgufValueType.Bool
        : type == typeof(ulong) ? GgufValueType.UInt64
        : type == typeof(long) ? GgufValueType.Int64
        : type == typeof(double) ? GgufValueType.Float64
        : GgufValueType.String;

    /// <summary>Whether <paramref name="code"/> is one of the thirteen value types.</summary>
    public static bool IsValueType(uint code) => code <= (uint)GgufValueType.Float64;

    /// <summary>A scalar's little-endian bytes as the low bytes of a u64.</summary>
    public static ulong ReadBits(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        1 => bytes[0],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(bytes),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        _ => BinaryPrimitives.ReadUInt64LittleEndian(bytes),
    };

    /// <summary><paramref name="offset"/> rounded up to a multiple of <paramref name="alignment"/> (a power of two).</summary>
    /// <exception cref="OverflowException">The result does not fit in 64 bits.</exception>
    public static long Align(long offset, int alignment) => checked(offset + alignment - 1) & ~(long)(alignment - 1);

    /// <summary>Decodes one string (length + UTF-8) of an encoding the reader checked, advancing <paramref name="at"/>.</summary>
    public static string DecodeString(ReadOnlySpan<byte> encoded, ref int at)
    {
        int length = (int)BinaryPrimitives.ReadUInt64LittleEndian(encoded[at..]);
        at += 8;
        string value = length == 0 ? string.Empty : s_strict.GetString(encoded.Slice(at, length));
        at += length;
        return value;
    }

    /// <summary>Decodes one nested array (type + count + elements) of an encoding the reader checked, advancing <paramref name="at"/>.</summary>
    public static GgufArray DecodeNestedArray(ReadOnlyMemory<byte> encoded, ref int at)
    {
        var span = encoded.Span;
        var type = (GgufValueType)BinaryPrimitives.ReadUInt32LittleEndian(span[at..]);
        int count = (int)BinaryPrimitives.ReadUInt64LittleEndian(span[(at + 4)..]);
        at += MinNestedArrayBytes;
        int start = at;
        SkipCheckedElements(span, type, count, ref at);
        return GgufArray.FromEncoded(type, count, encoded[start..at]);
    }

    // Walks elements that were checked when the file was opened, to find where they end.
    private static void SkipCheckedElements(ReadOnlySpan<byte> span, GgufValueType type, int count, ref int at)
    {
        int size = ScalarSize(type);
        if (size > 0)
        {
            at += size * count;
            return;
        }
        for (int i = 0; i < count; i++)
        {
            if (type == GgufValueType.String)
            {
                at += 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(span[at..]);
            }
            else
            {
                var inner = (GgufValueType)BinaryPrimitives.ReadUInt32LittleEndian(span[at..]);
                int innerCount = (int)BinaryPrimitives.ReadUInt64LittleEndian(span[(at + 4)..]);
                at += MinNestedArrayBytes;
                SkipCheckedElements(span, inner, innerCount, ref at);
            }
        }
    }

    // ---------------------------------------------------------------- writing

    /// <summary>Writes the fixed header: magic, version 3, the tensor count and the key-value count.</summary>
    public static void WriteHeader(Stream stream, long tensorCount, long pairCount)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], Version);
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], (ulong)tensorCount);
        BinaryPrimitives.WriteUInt64LittleEndian(header[16..], (ulong)pairCount);
        stream.Write(header);
    }

    /// <summary>Writes one key-value pair: the key, the value's type, the value.</summary>
    public static void WritePair(Stream stream, string key, GgufValue value)
    {
        WriteString(stream, key);
        WriteU32(stream, (uint)value.Type);
        WriteValue(stream, value);
    }

    /// <summary>Writes one tensor info: name, n_dims, dims (fastest first), ggml type, offset from the start of the data.</summary>
    public static void WriteTensorInfo(Stream stream, string name, ReadOnlySpan<long> dims, int ggmlType, long offset)
    {
        WriteString(stream, name);
        WriteU32(stream, (uint)dims.Length);
        foreach (long d in dims) WriteU64(stream, (ulong)d);
        WriteU32(stream, (uint)ggmlType);
        WriteU64(stream, (ulong)offset);
    }

    /// <summary>Writes zero bytes until <paramref name="position"/> is a multiple of <paramref name="alignment"/>; returns the new position.</summary>
    public static long WritePadding(Stream stream, long position, int alignment)
    {
        long aligned = Align(position, alignment);
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        for (long left = aligned - position; left > 0; left -= zeros.Length)
        {
            stream.Write(zeros[..(int)Math.Min(left, zeros.Length)]);
        }
        return aligned;
    }

    /// <summary>Writes a value without its type code (an array writes its element type, count and elements).</summary>
    public static void WriteValue(Stream stream, GgufValue value)
    {
        switch (value.Type)
        {
            case GgufValueType.String:
                WriteString(stream, value.AsString());
                break;
            case GgufValueType.Array:
                WriteArray(stream, value.AsArray());
                break;
            default:
                Span<byte> bits = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(bits, value.Bits);
                stream.Write(bits[..ScalarSize(value.Type)]);
                break;
        }
    }

    private static void WriteArray(Stream stream, GgufArray array)
    {
        WriteU32(stream, (uint)array.ElementType);
        WriteU64(stream, (ulong)array.Count);
        if (array.IsEncoded)
        {
            // Read from a file: its encoding is already what we would write.
            stream.Write(array.EncodedElements);
            return;
        }
        switch (array.Items)
        {
            case string[] strings:
                foreach (var s in strings) WriteString(stream, s);
                break;
            case GgufArray[] arrays:
                foreach (var a in arrays) WriteArray(stream, a);
                break;
            case bool[] bools:
                foreach (bool b in bools) stream.WriteByte(b ? (byte)1 : (byte)0);
                break;
            case byte[] bytes:
                stream.Write(bytes);
                break;
            default:
                // Every other element type is a little-endian scalar of fixed width, as this host stores it.
                var items = array.Items!;
                var raw = new byte[(long)items.Length * ScalarSize(array.ElementType)];
                Buffer.BlockCopy(items, 0, raw, 0, raw.Length);
                stream.Write(raw);
                break;
        }
    }

    /// <summary>Writes a string: u64 byte length, UTF-8 bytes.</summary>
    public static void WriteString(Stream stream, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        WriteU64(stream, (ulong)bytes.Length);
        stream.Write(bytes);
    }

    /// <summary>Bytes of <paramref name="value"/> in UTF-8.</summary>
    public static int Utf8Length(string value) => Encoding.UTF8.GetByteCount(value);

    private static void WriteU32(Stream stream, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        stream.Write(b);
    }

    private static void WriteU64(Stream stream, ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        stream.Write(b);
    }

    // ---------------------------------------------------------------- reading

    /// <summary>
    /// Reads the header region of a file with every count and length checked against the bytes that remain
    /// before anything is allocated; errors name the file, the item being read (a key or tensor, set with
    /// <see cref="At"/>), the field and its byte offset. Messages are built only when an error is thrown, so
    /// reading allocates nothing beyond the values themselves.
    /// </summary>
    public ref struct Cursor
    {
        private readonly ReadOnlySpan<byte> _data;
        private readonly ReadOnlyMemory<byte> _memory;
        private readonly string _source;
        private string _kind;
        private string? _name;
        private int _index;

        public Cursor(ReadOnlyMemory<byte> data, string source)
        {
            _memory = data;
            _data = data.Span;
            _source = source;
            _kind = "header";
            _name = null;
            _index = -1;
            Position = 0;
        }

        /// <summary>The offset of the next byte to read.</summary>
        public int Position { get; private set; }

        /// <summary>Bytes left in the header region.</summary>
        public readonly long Remaining => _data.Length - Position;

        /// <summary>Names what is read next, for messages: <c>At("tensor", "blk.0.attn_q.weight")</c>, or <c>At("tensor info", null, 3)</c> before the name is known.</summary>
        public void At(string kind, string? name, int index = -1)
        {
            _kind = kind;
            _name = name;
            _index = index;
        }

        /// <summary>The item being read, with <paramref name="field"/>: "metadata key 'general.name' value".</summary>
        public readonly string Describe(string? field)
        {
            var text = new StringBuilder(_kind);
            if (_name is not null) text.Append(" '").Append(_name).Append('\'');
            else if (_index >= 0) text.Append(' ').Append(_index.ToString(CultureInfo.InvariantCulture));
            if (!string.IsNullOrEmpty(field)) text.Append(' ').Append(field);
            return text.ToString();
        }

        /// <summary>An error about the current item's <paramref name="field"/> at byte <paramref name="offset"/>.</summary>
        public readonly QuantFormatException Fail(long offset, string? field, string problem) => Error(offset, Describe(field), problem);

        /// <summary>An error about <paramref name="what"/> at byte <paramref name="offset"/>.</summary>
        public readonly QuantFormatException Error(long offset, string what, string problem)
            => new(string.Create(CultureInfo.InvariantCulture, $"{_source}: {what} at byte {offset}: {problem}"), offset);

        private readonly void Need(long count, string? field)
        {
            if (count > Remaining)
            {
                throw Fail(Position, field, string.Create(CultureInfo.InvariantCulture,
                    $"needs {count} bytes but only {Remaining} remain (truncated or corrupt)"));
            }
        }

        public uint U32(string field)
        {
            Need(4, field);
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(_data[Position..]);
            Position += 4;
            return value;
        }

        public ulong U64(string field)
        {
            Need(8, field);
            ulong value = BinaryPrimitives.ReadUInt64LittleEndian(_data[Position..]);
            Position += 8;
            return value;
        }

        /// <summary>A count of items that take at least <paramref name="minBytesEach"/> bytes each, checked against what remains.</summary>
        public int Count(string field, int minBytesEach)
        {
            int at = Position;
            ulong count = U64(field);
            if (count > (ulong)(Remaining / minBytesEach))
            {
                throw Fail(at, field, string.Create(CultureInfo.InvariantCulture,
                    $"claims {count} items of at least {minBytesEach} bytes each, but only {Remaining} bytes remain"));
            }
            return (int)count;
        }

        /// <summary>A non-empty string of valid UTF-8 (keys and tensor names).</summary>
        public string Name(string field)
        {
            int at = Position;
            int length = Count(field, 1);
            if (length == 0) throw Fail(at, field, "is empty");
            var bytes = _data.Slice(Position, length);
            if (!Utf8.IsValid(bytes)) throw Fail(at, field, "is not valid UTF-8");
            Position += length;
            return s_strict.GetString(bytes);
        }

        /// <summary>A value of <paramref name="type"/> (a code read from the file, checked here).</summary>
        public GgufValue Value(uint type)
        {
            int at = Position;
            if (!IsValueType(type))
            {
                throw Fail(at - 4, null, string.Create(CultureInfo.InvariantCulture, $"has unknown value type {type}"));
            }
            var valueType = (GgufValueType)type;
            switch (valueType)
            {
                case GgufValueType.String:
                {
                    int length = Count("string length", 1);
                    var bytes = _data.Slice(Position, length);
                    if (!Utf8.IsValid(bytes)) throw Fail(at, null, "is not valid UTF-8");
                    Position += length;
                    return GgufValue.FromString(length == 0 ? string.Empty : s_strict.GetString(bytes));
                }
                case GgufValueType.Array:
                {
                    var (elementType, count) = ArrayHead(-1, 0);
                    int start = Position;
                    SkipElements(elementType, count, 0);
                    return GgufValue.FromArray(GgufArray.FromEncoded(elementType, count, _memory[start..Position]));
                }
                default:
                {
                    int size = ScalarSize(valueType);
                    Need(size, "value");
                    ulong bits = ReadBits(_data.Slice(Position, size));
                    if (valueType == GgufValueType.Bool && bits > 1)
                    {
                        throw Fail(at, null, string.Create(CultureInfo.InvariantCulture, $"is a bool stored as {bits}; only 0 and 1 are bools"));
                    }
                    Position += size;
                    return GgufValue.FromBits(valueType, bits);
                }
            }
        }

        // An array's element type and count, checked; index >= 0 names an element of an outer array.
        private (GgufValueType Type, int Count) ArrayHead(int index, int depth)
        {
            int at = Position;
            if (depth >= MaxArrayDepth)
            {
                throw Fail(at, Element(index), string.Create(CultureInfo.InvariantCulture, $"nests arrays deeper than {MaxArrayDepth} levels"));
            }
            if (Remaining < MinNestedArrayBytes) Need(MinNestedArrayBytes, Element(index));
            uint elementCode = BinaryPrimitives.ReadUInt32LittleEndian(_data[Position..]);
            if (!IsValueType(elementCode))
            {
                throw Fail(at, Element(index), string.Create(CultureInfo.InvariantCulture, $"has unknown element type {elementCode}"));
            }
            var elementType = (GgufValueType)elementCode;
            int size = ScalarSize(elementType);
            int minBytes = size > 0 ? size : elementType == GgufValueType.String ? 8 : MinNestedArrayBytes;
            ulong count = BinaryPrimitives.ReadUInt64LittleEndian(_data[(Position + 4)..]);
            Position += MinNestedArrayBytes;
            if (count > (ulong)(Remaining / minBytes))
            {
                throw Fail(at, Element(index), string.Create(CultureInfo.InvariantCulture,
                    $"claims {count} {TypeName(elementType)} elements of at least {minBytes} bytes each, but only {Remaining} bytes remain"));
            }
            return (elementType, (int)count);
        }

        // Checks elements without allocating anything (a vocabulary of 150k strings costs no objects).
        private void SkipElements(GgufValueType elementType, int count, int depth)
        {
            int size = ScalarSize(elementType);
            if (size > 0)
            {
                if (elementType == GgufValueType.Bool)
                {
                    int bad = _data.Slice(Position, count).IndexOfAnyExcept((byte)0, (byte)1);
                    if (bad >= 0) throw Fail(Position + bad, Element(bad), string.Create(CultureInfo.InvariantCulture, $"is a bool stored as {_data[Position + bad]}"));
                }
                Position += size * count;
                return;
            }
            for (int i = 0; i < count; i++)
            {
                int at = Position;
                if (elementType == GgufValueType.String)
                {
                    if (Remaining < 8) Need(8, Element(i));
                    ulong length = BinaryPrimitives.ReadUInt64LittleEndian(_data[Position..]);
                    Position += 8;
                    if (length > (ulong)Remaining)
                    {
                        throw Fail(at, Element(i), string.Create(CultureInfo.InvariantCulture,
                            $"claims a string of {length} bytes but only {Remaining} remain"));
                    }
                    if (!Utf8.IsValid(_data.Slice(Position, (int)length))) throw Fail(at, Element(i), "is not valid UTF-8");
                    Position += (int)length;
                }
                else
                {
                    var (innerType, innerCount) = ArrayHead(i, depth + 1);
                    SkipElements(innerType, innerCount, depth + 1);
                }
            }
        }

        // Built only when an error is thrown, so that checking an array allocates nothing.
        private static string? Element(int index)
            => index < 0 ? null : string.Create(CultureInfo.InvariantCulture, $"element {index}");
    }
}
