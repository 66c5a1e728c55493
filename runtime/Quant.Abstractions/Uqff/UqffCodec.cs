using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.InteropServices;

namespace Quant.Uqff;

/// <summary>
/// Writes and reads UQFF 0.2.0 layer blobs, as mistralrs-quant writes them. The reader checks the
/// version, every length against the bytes that remain before allocating, every dimension against the
/// format, and throws <see cref="QuantFormatException"/> with the byte offset for anything else.
/// </summary>
public static class UqffCodec
{
    /// <summary>The version word: <c>(major &lt;&lt; 16) | (minor &lt;&lt; 8) | patch</c> for 0.2.0.</summary>
    public const uint Version = 0x00000200;

    // Readers refuse more dimensions than any layer has, so a corrupt count cannot ask for a huge array.
    private const int MaxDims = 8;

    /// <summary>Writes <paramref name="weight"/> as the UQFF layer of its format (Gguf with its ggml type, or the format's own layer type).</summary>
    /// <param name="weight">The quantized weight, <c>[N, K]</c>.</param>
    /// <param name="bias">The bias (<c>N</c> floats, written as F32), or empty for none.</param>
    /// <exception cref="QuantFormatException">The format has no UQFF layer type, or the bias length is not <c>N</c>.</exception>
    public static byte[] WriteLayer(QuantMatrix weight, ReadOnlySpan<float> bias = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        var info = weight.Format;
        CheckBias(bias, weight.Rows);
        using var stream = new MemoryStream();
        WriteU32(stream, Version);
        switch (info.Uqff)
        {
            case UqffLayer.Gguf:
                // Gguf puts the data length before has_bias, unlike every other layer type.
                var data = weight.Plane(0).Span;
                stream.WriteByte((byte)UqffLayer.Gguf);
                WriteU32(stream, checked((uint)data.Length));
                stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
                WriteU32(stream, checked((uint)info.GgufType));
                WriteU32(stream, 2);
                WriteU32(stream, (uint)weight.Rows);
                WriteU32(stream, (uint)weight.Columns);
                stream.Write(data);
                break;
            case UqffLayer.Mxfp4:
                stream.WriteByte((byte)UqffLayer.Mxfp4);
                stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
                for (int p = 0; p < info.Planes.Count; p++)
                {
                    WriteTensor(stream, UqffDType.U8, [weight.Rows, info.RowBytes(p, weight.Columns)], weight.Plane(p).Span);
                }
                break;
            case UqffLayer.Fp8:
            {
                // mistral.rs' FP8Linear: the E4M3 weight, then dequant_w_scale, dequant_x_scale (it stores the same
                // value), quant_scale (the inverse) and the quantized dtype's code.
                stream.WriteByte((byte)UqffLayer.Fp8);
                stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
                WriteTensor(stream, UqffDType.F8E4M3, [weight.Rows, weight.Columns], weight.Plane(0).Span);
                float scale = BinaryPrimitives.ReadSingleLittleEndian(weight.Plane(1).Span);
                WriteF32(stream, scale);
                WriteF32(stream, scale);
                WriteF32(stream, scale != 0f ? 1f / scale : 0f);
                WriteU32(stream, (uint)UqffDType.F8E4M3);
                break;
            }
            case UqffLayer.F8Q8:
            {
                var blocks = weight.Plane(0).Span;
                stream.WriteByte((byte)UqffLayer.F8Q8);
                stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
                WriteU32(stream, checked((uint)(weight.Rows * (long)weight.Columns / info.BlockSize)));
                WriteU32(stream, 2);
                WriteU32(stream, (uint)weight.Rows);
                WriteU32(stream, (uint)weight.Columns);
                stream.Write(blocks);
                break;
            }
            case UqffLayer.Afq:
            {
                // w_q as U32 words (the LSB-first code stream read as little-endian words), then scales and biases
                // in the dtype of their code, then the bits and the group size.
                stream.WriteByte((byte)UqffLayer.Afq);
                stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
                WriteTensor(stream, UqffDType.U32, [weight.Rows, info.RowBytes(0, weight.Columns) / 4], weight.Plane(0).Span);
                for (int p = 1; p <= 2; p++)
                {
                    WriteTensor(stream, RecordType(info.Planes[p]), [weight.Rows, weight.Columns / info.BlockSize], weight.Plane(p).Span);
                }
                stream.WriteByte((byte)info.CodeBits);
                stream.WriteByte(checked((byte)info.BlockSize));
                break;
            }
            default:
                throw new QuantFormatException($"Format '{info.Name}' has no UQFF layer type this writer knows ({info.Uqff}).");
        }
        if (!bias.IsEmpty) WriteTensor(stream, UqffDType.F32, [bias.Length], MemoryMarshal.AsBytes(bias));
        return stream.ToArray();
    }

    /// <summary>Writes an Unquant (type 1) layer: a float weight stored as <paramref name="dtype"/> (F32, F16 or BF16).</summary>
    /// <param name="weight">The weight, <paramref name="rows"/> x <paramref name="columns"/> floats, row-major.</param>
    /// <param name="rows">Rows (<c>N</c>).</param>
    /// <param name="columns">Columns (<c>K</c>).</param>
    /// <param name="dtype">How the weight is stored.</param>
    /// <param name="bias">The bias (<c>N</c> floats, stored as <paramref name="dtype"/>), or empty.</param>
    public static byte[] WriteUnquant(ReadOnlySpan<float> weight, int rows, int columns, UqffDType dtype, ReadOnlySpan<float> bias = default)
    {
        if ((long)rows * columns != weight.Length)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"A {rows} x {columns} weight holds {(long)rows * columns} floats, not {weight.Length}."));
        }
        CheckBias(bias, rows);
        using var stream = new MemoryStream();
        WriteU32(stream, Version);
        stream.WriteByte((byte)UqffLayer.Unquant);
        stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
        WriteTensor(stream, UqffTensor.FromSingle(weight, [rows, columns], dtype));
        if (!bias.IsEmpty) WriteTensor(stream, UqffTensor.FromSingle(bias, [bias.Length], dtype));
        return stream.ToArray();
    }

    /// <summary>Parses a layer blob of any type this codec knows.</summary>
    /// <exception cref="QuantFormatException">The blob is truncated, has trailing bytes, an unknown version or type, or a record whose length does not match its shape.</exception>
    public static UqffLayerBlob ReadLayer(ReadOnlySpan<byte> blob)
    {
        var reader = new BlobReader(blob);
        uint version = reader.U32("version");
        uint major = version >> 16, minor = (version >> 8) & 0xFF;
        if (major != 0 || minor > 2)
        {
            throw reader.Error(0, string.Create(CultureInfo.InvariantCulture,
                $"UQFF version {major}.{minor}.{version & 0xFF} is not supported (this reader takes 0.x up to 0.2)."));
        }
        int typeAt = reader.Position;
        byte type = reader.U8("layer type");
        UqffLayerBlob result;
        switch ((UqffLayer)type)
        {
            case UqffLayer.Gguf:
            {
                uint dataLength = reader.U32("data_len");
                bool hasBias = reader.Bool("has_bias");
                int ggmlType = checked((int)reader.U32("ggml_type", max: int.MaxValue));
                int[] dims = reader.Dims();
                var format = QuantFormatRegistry.FindByGgufType(ggmlType)?.Info
                    ?? throw reader.Error(reader.Position, $"ggml type {ggmlType} is not a registered format.");
                CheckGgufShape(ref reader, format, dims, dataLength);
                byte[] data = reader.Bytes(dataLength, "ggml blocks");
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.Gguf, [], bias, ggmlType, dims, data, version);
                break;
            }
            case UqffLayer.Unquant:
            {
                bool hasBias = reader.Bool("has_bias");
                int weightAt = reader.Position;
                var weight = reader.Tensor("weight");
                if (!IsFloat(weight.DType) || weight.Dims.Length < 2)
                {
                    throw reader.Error(weightAt, $"An Unquant layer's weight must be a float tensor of at least 2 dimensions; it is {weight.DType} [{string.Join(", ", weight.Dims)}].");
                }
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.Unquant, [weight], bias, version: version);
                break;
            }
            case UqffLayer.Mxfp4:
            {
                bool hasBias = reader.Bool("has_bias");
                var blocks = reader.Tensor("blocks");
                var scales = reader.Tensor("scales");
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.Mxfp4, [blocks, scales], bias, version: version);
                break;
            }
            case UqffLayer.Fp8:
            {
                bool hasBias = reader.Bool("has_bias");
                int weightAt = reader.Position;
                var weight = reader.Tensor("weight");
                if (weight.DType != UqffDType.F8E4M3 || weight.Dims.Length < 2)
                {
                    throw reader.Error(weightAt, $"An Fp8 layer's weight must be an F8E4M3 tensor of at least 2 dimensions; it is {weight.DType} [{string.Join(", ", weight.Dims)}].");
                }
                float[] scales = [reader.F32("dequant_w_scale"), reader.F32("dequant_x_scale"), reader.F32("quant_scale")];
                uint dtype = reader.U32("dtype");
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.Fp8, [weight], bias, version: version, scalars: scales, dtypeCode: dtype);
                break;
            }
            case UqffLayer.F8Q8:
            {
                bool hasBias = reader.Bool("has_bias");
                uint blocks = reader.U32("num_blocks", int.MaxValue / 33);
                int[] dims = reader.Dims();
                var format = FindByUqff(ref reader, UqffLayer.F8Q8);
                long elements = 1;
                foreach (int d in dims) elements = Math.Min(elements * d, long.MaxValue / 64);
                if (dims.Length < 2 || elements != (long)blocks * format.BlockSize)
                {
                    throw reader.Error(reader.Position, string.Create(CultureInfo.InvariantCulture,
                        $"An F8Q8 layer of shape [{string.Join(", ", dims)}] has {elements} elements, not the {(long)blocks * format.BlockSize} of its {blocks} blocks."));
                }
                CheckGgufShape(ref reader, format, dims, blocks * (uint)format.BytesPerBlock);
                byte[] data = reader.Bytes(blocks * (uint)format.BytesPerBlock, "F8Q8 blocks");
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.F8Q8, [], bias, -1, dims, data, version);
                break;
            }
            case UqffLayer.Afq:
            {
                bool hasBias = reader.Bool("has_bias");
                var codes = reader.Tensor("w_q");
                var scales = reader.Tensor("scales");
                var biases = reader.Tensor("biases");
                int bits = reader.U8("bits");
                int group = reader.U8("group_size");
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.Afq, [codes, scales, biases], bias, version: version, bits: bits, groupSize: group);
                break;
            }
            default:
                throw reader.Error(typeAt, Enum.IsDefined((UqffLayer)type) && type != unchecked((byte)UqffLayer.None)
                    ? $"UQFF layer type {(UqffLayer)type} ({type}) is not supported by this reader yet."
                    : $"Unknown UQFF layer type {type}.");
        }
        reader.End();
        CheckBiasRecord(result);
        return result;
    }

    private static QuantFormatInfo FindByUqff(ref BlobReader reader, UqffLayer layer)
        => QuantFormatRegistry.FindByUqff(layer)?.Info ?? throw reader.Error(reader.Position, $"No registered format is written as UQFF layer type {layer}.");

    private static bool IsFloat(UqffDType dtype) => dtype is UqffDType.F32 or UqffDType.F16 or UqffDType.BF16 or UqffDType.F64;

    /// <summary>A bias is a float vector with one value per output row.</summary>
    private static void CheckBiasRecord(UqffLayerBlob layer)
    {
        if (layer.Bias is null) return;
        int[] weightDims = layer.Type is UqffLayer.Gguf or UqffLayer.F8Q8 ? layer.GgufDims : layer.Tensors[0].Dims;
        long rows = 1;
        for (int i = 0; i < weightDims.Length - 1; i++) rows *= weightDims[i];
        if (!IsFloat(layer.Bias.DType) || layer.Bias.Dims.Length != 1 || layer.Bias.Dims[0] != rows)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"The bias of a UQFF {layer.Type} layer with {rows} rows must be a float vector of {rows}; it is {layer.Bias.DType} [{string.Join(", ", layer.Bias.Dims)}]."));
        }
    }

    /// <summary>
    /// Reads a quantized layer blob back into a matrix of its format: the Gguf layer's ggml type or the
    /// layer's own type names the format. Dimensions are checked against the format.
    /// </summary>
    /// <param name="blob">The blob.</param>
    /// <param name="bias">The bias as floats, or null.</param>
    /// <exception cref="QuantFormatException">The blob is corrupt, not a quantized layer, or its shape does not fit its format.</exception>
    public static QuantMatrix ReadQuantLayer(ReadOnlySpan<byte> blob, out float[]? bias)
    {
        var layer = ReadLayer(blob);
        bias = layer.Bias?.ToSingle();
        return ToMatrix(layer, bias);
    }

    /// <summary>Turns a parsed quantized layer into a matrix of its format, checking shapes.</summary>
    /// <exception cref="QuantFormatException">The layer is not quantized or its shape does not fit.</exception>
    public static QuantMatrix ToMatrix(UqffLayerBlob layer, float[]? bias = null)
    {
        ArgumentNullException.ThrowIfNull(layer);
        QuantMatrix matrix;
        switch (layer.Type)
        {
            case UqffLayer.Gguf:
            {
                var format = QuantFormatRegistry.FindByGgufType(layer.GgmlType)?.Info
                    ?? throw new QuantFormatException($"ggml type {layer.GgmlType} is not a registered format.");
                var (rows, columns) = RowsAndColumns(layer.GgufDims, "weight");
                matrix = new QuantMatrix(format, rows, columns, [layer.GgufData]);
                break;
            }
            case UqffLayer.Mxfp4:
            {
                var format = QuantFormatRegistry.FindByUqff(UqffLayer.Mxfp4)?.Info
                    ?? throw new QuantFormatException("No registered format is written as UQFF layer type Mxfp4.");
                var blocks = layer.Tensors[0];
                var scales = layer.Tensors[1];
                if (blocks.DType != UqffDType.U8 || scales.DType != UqffDType.U8)
                {
                    throw new QuantFormatException($"Mxfp4 blocks and scales are U8 tensors; got {blocks.DType} and {scales.DType}.");
                }
                var (rows, packed) = RowsAndColumns(blocks.Dims, "blocks");
                long columns = (long)packed * format.BlockSize / format.Planes[0].BytesPerBlock;
                if (columns > int.MaxValue) throw new QuantFormatException($"Mxfp4 blocks of {packed} bytes per row are too wide.");
                format.CheckColumns(columns);
                var (scaleRows, scaleColumns) = RowsAndColumns(scales.Dims, "scales");
                int expectedScales = format.RowBytes(1, (int)columns);
                if (scaleRows != rows || scaleColumns != expectedScales)
                {
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"Mxfp4 scales must have shape [{rows}, {expectedScales}] for blocks [{rows}, {packed}]; got [{string.Join(", ", scales.Dims)}]."));
                }
                matrix = new QuantMatrix(format, rows, (int)columns, [blocks.Data, scales.Data]);
                break;
            }
            case UqffLayer.Fp8:
            {
                var format = QuantFormatRegistry.FindByUqff(UqffLayer.Fp8)?.Info
                    ?? throw new QuantFormatException("No registered format is written as UQFF layer type Fp8.");
                var (rows, columns) = RowsAndColumns(layer.Tensors[0].Dims, "weight");
                var scale = new byte[4];
                BinaryPrimitives.WriteSingleLittleEndian(scale, layer.Scalars[0]);
                matrix = new QuantMatrix(format, rows, columns, [layer.Tensors[0].Data, scale]);
                break;
            }
            case UqffLayer.F8Q8:
            {
                var format = QuantFormatRegistry.FindByUqff(UqffLayer.F8Q8)?.Info
                    ?? throw new QuantFormatException("No registered format is written as UQFF layer type F8Q8.");
                var (rows, columns) = RowsAndColumns(layer.GgufDims, "weight");
                matrix = new QuantMatrix(format, rows, columns, [layer.GgufData]);
                break;
            }
            case UqffLayer.Afq:
            {
                var format = QuantFormatRegistry.FindByUqff(UqffLayer.Afq, layer.Bits, layer.GroupSize)?.Info
                    ?? throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"No registered format is an AFQ layer of {layer.Bits} bits in groups of {layer.GroupSize}."));
                var (codes, scales, biases) = (layer.Tensors[0], layer.Tensors[1], layer.Tensors[2]);
                if (codes.DType != UqffDType.U32) throw new QuantFormatException($"AFQ codes (w_q) are a U32 tensor; got {codes.DType}.");
                var (rows, words) = RowsAndColumns(codes.Dims, "w_q");
                long columns = (long)words * 32 / format.CodeBits;
                if (columns > int.MaxValue) throw new QuantFormatException($"AFQ codes of {words} words per row are too wide.");
                format.CheckColumns(columns);
                foreach (var (tensor, name, plane) in new[] { (scales, "scales", 1), (biases, "biases", 2) })
                {
                    var (r, c) = RowsAndColumns(tensor.Dims, name);
                    if (r != rows || c != columns / format.BlockSize || tensor.DType != RecordType(format.Planes[plane]) || tensor.Data.Length != format.PlaneBytes(plane, rows, (int)columns))
                    {
                        throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                            $"AFQ {name} must be [{rows}, {columns / format.BlockSize}] in the format's scale dtype; got {tensor.DType} [{string.Join(", ", tensor.Dims)}]."));
                    }
                }
                matrix = new QuantMatrix(format, rows, (int)columns, [codes.Data, scales.Data, biases.Data]);
                break;
            }
            default:
                throw new QuantFormatException($"A UQFF {layer.Type} layer is not a quantized layer of a registered format.");
        }
        if (bias is not null && bias.Length != matrix.Rows)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"The bias holds {bias.Length} values for a weight of {matrix.Rows} rows."));
        }
        return matrix;
    }

    private static (int Rows, int Columns) RowsAndColumns(int[] dims, string what)
    {
        if (dims.Length < 2)
        {
            throw new QuantFormatException($"The {what} tensor must have at least 2 dimensions; it has {dims.Length}.");
        }
        long rows = 1;
        for (int i = 0; i < dims.Length - 1; i++) rows = checked(rows * dims[i]);
        if (rows > int.MaxValue) throw new QuantFormatException($"The {what} tensor has too many rows ({rows}).");
        return ((int)rows, dims[^1]);
    }

    private static void CheckGgufShape(ref BlobReader reader, QuantFormatInfo format, int[] dims, uint dataLength)
    {
        if (dims.Length < 2) throw reader.Error(reader.Position, $"A Gguf layer's weight needs at least 2 dimensions; it has {dims.Length}.");
        long rows = 1;
        for (int i = 0; i < dims.Length - 1; i++)
        {
            rows *= dims[i];
            if (rows > int.MaxValue) throw reader.Error(reader.Position, $"A Gguf layer of shape [{string.Join(", ", dims)}] has more rows than a matrix can hold.");
        }
        int columns = dims[^1];
        if (columns <= 0 || columns % format.BlockSize != 0)
        {
            throw reader.Error(reader.Position, string.Create(CultureInfo.InvariantCulture,
                $"A {format.Name} row of {columns} elements is not a whole number of {format.BlockSize}-element blocks."));
        }
        long expected;
        try
        {
            expected = format.MatrixBytes(rows, columns);
        }
        catch (QuantFormatException e)
        {
            throw reader.Error(reader.Position, e.Message);
        }
        if (expected != dataLength)
        {
            throw reader.Error(reader.Position, string.Create(CultureInfo.InvariantCulture,
                $"A {format.Name} weight of shape [{string.Join(", ", dims)}] holds {expected} bytes, but data_len says {dataLength}."));
        }
    }

    private static void CheckBias(ReadOnlySpan<float> bias, int rows)
    {
        if (!bias.IsEmpty && bias.Length != rows)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"The bias must hold one value per row ({rows}); it holds {bias.Length}."));
        }
    }

    private static void WriteTensor(Stream stream, UqffTensor tensor) => WriteTensor(stream, tensor.DType, tensor.Dims, tensor.Data);

    private static void WriteTensor(Stream stream, UqffDType dtype, int[] dims, ReadOnlySpan<byte> data)
    {
        WriteU32(stream, checked((uint)data.Length));
        WriteU32(stream, (uint)dtype);
        WriteU32(stream, (uint)dims.Length);
        foreach (int d in dims) WriteU32(stream, checked((uint)d));
        stream.Write(data);
    }

    /// <summary>The tensor-record dtype of a plane's values.</summary>
    private static UqffDType RecordType(QuantPlaneInfo plane) => plane.Element switch
    {
        PlaneElement.F32 => UqffDType.F32,
        PlaneElement.F16 => UqffDType.F16,
        PlaneElement.BF16 => UqffDType.BF16,
        PlaneElement.E4M3 => UqffDType.F8E4M3,
        _ => UqffDType.U8,
    };

    private static void WriteF32(Stream stream, float value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        stream.Write(bytes);
    }

    private static void WriteU32(Stream stream, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        stream.Write(bytes);
    }

    /// <summary>Reads a blob front to back; every read checks what remains first.</summary>
    private ref struct BlobReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;

        public int Position { get; private set; }

        public readonly QuantFormatException Error(int offset, string message)
            => new(string.Create(CultureInfo.InvariantCulture, $"UQFF layer blob, byte {offset}: {message}"), offset);

        private readonly void Need(long count, string what)
        {
            long remaining = _data.Length - Position;
            if (count > remaining)
            {
                throw Error(Position, string.Create(CultureInfo.InvariantCulture,
                    $"expected {count} bytes of {what}, but only {remaining} remain (truncated blob)."));
            }
        }

        public float F32(string what) => BitConverter.UInt32BitsToSingle(U32(what));

        public byte U8(string what)
        {
            Need(1, what);
            return _data[Position++];
        }

        public bool Bool(string what)
        {
            int at = Position;
            byte b = U8(what);
            return b switch
            {
                0 => false,
                1 => true,
                _ => throw Error(at, $"{what} must be 0 or 1; it is {b}."),
            };
        }

        public uint U32(string what, uint max = uint.MaxValue)
        {
            Need(4, what);
            int at = Position;
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(_data.Slice(Position, 4));
            Position += 4;
            if (value > max)
            {
                throw Error(at, string.Create(CultureInfo.InvariantCulture, $"{what} is {value}, above the largest allowed, {max}."));
            }
            return value;
        }

        public byte[] Bytes(uint count, string what)
        {
            Need(count, what);
            byte[] result = _data.Slice(Position, (int)count).ToArray();
            Position += (int)count;
            return result;
        }

        public int[] Dims()
        {
            int at = Position;
            uint ndims = U32("ndims");
            if (ndims > MaxDims) throw Error(at, string.Create(CultureInfo.InvariantCulture, $"ndims is {ndims}; a layer tensor has at most {MaxDims}."));
            Need(4L * ndims, "dims");
            var dims = new int[ndims];
            for (int i = 0; i < dims.Length; i++)
            {
                dims[i] = (int)U32(string.Create(CultureInfo.InvariantCulture, $"dims[{i}]"), int.MaxValue);
            }
            return dims;
        }

        public UqffTensor Tensor(string name)
        {
            int at = Position;
            uint dataLength = U32($"{name} data_len");
            int dtypeAt = Position;
            uint code = U32($"{name} dtype");
            if (code > (uint)UqffDType.F8E4M3)
            {
                throw Error(dtypeAt, code <= 13
                    ? $"{name} has dtype code {code} (a 4/6-bit or E8M0 dtype), which UQFF tensor records cannot hold."
                    : $"{name} has unknown dtype code {code}.");
            }
            var dtype = (UqffDType)code;
            int[] dims = Dims();
            long expected;
            try
            {
                expected = checked(UqffTensor.ElementCountOf(dims) * UqffTensor.ElementSize(dtype));
            }
            catch (OverflowException)
            {
                throw Error(at, $"{name} has shape [{string.Join(", ", dims)}], too large to hold.");
            }
            if (expected != dataLength)
            {
                throw Error(at, string.Create(CultureInfo.InvariantCulture,
                    $"{name} is a {dtype} tensor of shape [{string.Join(", ", dims)}], which holds {expected} bytes, but data_len says {dataLength}."));
            }
            return new UqffTensor(dtype, dims, Bytes(dataLength, $"{name} data"));
        }

        public readonly void End()
        {
            if (Position != _data.Length)
            {
                throw Error(Position, string.Create(CultureInfo.InvariantCulture,
                    $"{_data.Length - Position} bytes follow the end of the layer."));
            }
        }
    }
}
