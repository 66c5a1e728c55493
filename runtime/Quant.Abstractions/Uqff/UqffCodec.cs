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
                // Stacked experts keep mistral.rs' 3-D shapes: blocks [E, N, K/2], scales [E, N, K/32].
                for (int p = 0; p < info.Planes.Count; p++)
                {
                    int[] dims = weight.Experts > 1
                        ? [weight.Experts, weight.Rows / weight.Experts, info.RowBytes(p, weight.Columns)]
                        : [weight.Rows, info.RowBytes(p, weight.Columns)];
                    WriteTensor(stream, UqffDType.U8, dims, weight.Plane(p).Span);
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
            case UqffLayer.Hqq:
            {
                // mistral.rs' HqqLayer with HQQ's axis 1: group m is the m-th run of group_size elements, here one
                // block of a row. Its codes are bit-packed along the group index (the output dimension), its scales
                // and zero points are [groups, 1], then the weight's shape and the config: axis 1, the in-situ step
                // count of the default rule, round_zeros 0, channel_wise 1 (the matrix does not record its rule).
                int groups = checked(weight.Rows * (weight.Columns / info.BlockSize));
                stream.WriteByte((byte)UqffLayer.Hqq);
                stream.WriteByte(bias.IsEmpty ? (byte)0 : (byte)1);
                WriteTensor(stream, HqqCodeType(info.CodeBits), [(int)HqqPackedRows(groups, info.CodeBits), info.BlockSize], PackHqqCodes(weight.Plane(0).Span, info, groups));
                for (int p = 1; p <= 2; p++) WriteTensor(stream, RecordType(info.Planes[p]), [groups, 1], weight.Plane(p).Span);
                WriteU32(stream, 2);
                WriteU32(stream, (uint)weight.Rows);
                WriteU32(stream, (uint)weight.Columns);
                stream.WriteByte((byte)info.CodeBits);
                WriteU32(stream, (uint)info.BlockSize);
                stream.WriteByte(1);
                WriteU32(stream, Quantization.Hqq.IsqSteps);
                stream.WriteByte(0);
                stream.WriteByte(1);
                break;
            }
            default:
                throw new QuantFormatException($"Format '{info.Name}' has no UQFF layer type this writer knows ({info.Uqff}).");
        }
        if (!bias.IsEmpty)
        {
            int[] biasDims = weight.Experts > 1 && info.Uqff == UqffLayer.Mxfp4 ? [weight.Experts, weight.Rows / weight.Experts] : [bias.Length];
            WriteTensor(stream, UqffDType.F32, biasDims, MemoryMarshal.AsBytes(bias));
        }
        return stream.ToArray();
    }

    /// <summary>Writes an Unquant (type 1) layer: a float weight stored as <paramref name="dtype"/> (F32, F16 or BF16).</summary>
    /// <param name="weight">The weight, <paramref name="rows"/> x <paramref name="columns"/> floats, row-major.</param>
    /// <param name="rows">Rows (<c>N</c>).</param>
    /// <param name="columns">Columns (<c>K</c>).</param>
    /// <param name="dtype">How the weight is stored.</param>
    /// <param name="bias">The bias (<c>N</c> floats, stored as <paramref name="biasDType"/>), or empty.</param>
    /// <param name="biasDType">How the bias is stored: <paramref name="dtype"/> when null (as mistral.rs writes it); F32 keeps a float32 bias exact.</param>
    public static byte[] WriteUnquant(ReadOnlySpan<float> weight, int rows, int columns, UqffDType dtype, ReadOnlySpan<float> bias = default, UqffDType? biasDType = null)
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
        if (!bias.IsEmpty) WriteTensor(stream, UqffTensor.FromSingle(bias, [bias.Length], biasDType ?? dtype));
        return stream.ToArray();
    }

    /// <summary>
    /// The exact length in bytes of the blob <see cref="WriteLayer"/> writes for a <paramref name="rows"/> x
    /// <paramref name="columns"/> weight of <paramref name="format"/>, with or without a bias, computed from the
    /// shape alone: a whole-model writer announces every blob's length before any layer is quantized.
    /// </summary>
    /// <param name="format">The weight's format; it must have a UQFF layer type.</param>
    /// <param name="rows">Rows (<c>N</c>).</param>
    /// <param name="columns">Columns (<c>K</c>), a multiple of the block size.</param>
    /// <param name="hasBias">Whether an F32 bias of <c>N</c> values follows.</param>
    /// <exception cref="QuantFormatException">The format has no UQFF layer type, or the columns do not fit its blocks.</exception>
    public static long LayerLength(QuantFormatInfo format, int rows, int columns, bool hasBias) => LayerLength(format, rows, columns, hasBias, 1);

    /// <summary>
    /// The exact length of the blob <see cref="WriteLayer"/> writes for <paramref name="experts"/> stacked experts of
    /// <paramref name="rows"/> rows each: an Mxfp4 layer keeps them in one blob (blocks <c>[E, N, K/2]</c>, scales
    /// <c>[E, N, K/32]</c>, bias <c>[E, N]</c>), as mistral.rs writes GPT-OSS's experts.
    /// </summary>
    /// <exception cref="QuantFormatException">The format has no UQFF layer type, the columns do not fit its blocks, or more than one expert is asked of a type other than Mxfp4.</exception>
    public static long LayerLength(QuantFormatInfo format, int rows, int columns, bool hasBias, int experts)
    {
        ArgumentNullException.ThrowIfNull(format);
        format.CheckColumns(columns);
        if (experts < 1 || (experts > 1 && format.Uqff != UqffLayer.Mxfp4))
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"A UQFF {format.Uqff} layer holds one [N, K] weight, not {experts} experts."));
        long length = 5; // version, type
        switch (format.Uqff)
        {
            case UqffLayer.Gguf:
                length += 4 + 1 + 4 + 4 + 2 * 4 + format.MatrixBytes(rows, columns);
                break;
            case UqffLayer.Mxfp4:
                length += 1;
                for (int p = 0; p < format.Planes.Count; p++) length += RecordLength(experts > 1 ? 3 : 2, format.PlaneBytes(p, (long)experts * rows, columns));
                if (hasBias) return length + RecordLength(experts > 1 ? 2 : 1, 4L * experts * rows);
                break;
            case UqffLayer.Fp8:
                length += 1 + RecordLength(2, (long)rows * columns) + 3 * 4 + 4;
                break;
            case UqffLayer.F8Q8:
                length += 1 + 4 + 4 + 2 * 4 + format.PlaneBytes(0, rows, columns);
                break;
            case UqffLayer.Afq:
                length += 1 + RecordLength(2, format.PlaneBytes(0, rows, columns));
                for (int p = 1; p <= 2; p++) length += RecordLength(2, format.PlaneBytes(p, rows, columns));
                length += 2;
                break;
            case UqffLayer.Hqq:
            {
                long groups = (long)rows * (columns / format.BlockSize);
                long codes = HqqPackedRows(groups, format.CodeBits) * format.BlockSize * (format.CodeBits == 3 ? 4 : 1);
                length += 1 + RecordLength(2, codes);
                for (int p = 1; p <= 2; p++) length += RecordLength(2, format.PlaneBytes(p, rows, columns));
                length += 4 + 2 * 4 + 1 + 4 + 1 + 4 + 1 + 1;
                break;
            }
            default:
                throw new QuantFormatException($"Format '{format.Name}' has no UQFF layer type this writer knows ({format.Uqff}).");
        }
        return hasBias ? length + RecordLength(1, 4L * rows) : length;
    }

    /// <summary>The exact length in bytes of the blob <see cref="WriteUnquant"/> writes.</summary>
    /// <param name="rows">Rows (<c>N</c>).</param>
    /// <param name="columns">Columns (<c>K</c>).</param>
    /// <param name="dtype">How the weight is stored (F32, F16 or BF16).</param>
    /// <param name="hasBias">Whether a bias of <c>N</c> values follows.</param>
    /// <param name="biasDType">How the bias is stored (<paramref name="dtype"/> when null).</param>
    public static long UnquantLength(int rows, int columns, UqffDType dtype, bool hasBias, UqffDType? biasDType = null)
    {
        long length = 4 + 1 + 1 + RecordLength(2, (long)rows * columns * UqffTensor.ElementSize(dtype));
        return hasBias ? length + RecordLength(1, (long)rows * UqffTensor.ElementSize(biasDType ?? dtype)) : length;
    }

    // A tensor record: data_len, dtype, ndims, the dims, the data.
    private static long RecordLength(int dims, long data) => 12 + 4L * dims + data;

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
            case UqffLayer.Hqq:
            {
                bool hasBias = reader.Bool("has_bias");
                var codes = reader.Tensor("w_q");
                var scales = reader.Tensor("scales");
                var zeros = reader.Tensor("zeros");
                int[] shape = reader.Dims();
                int bitsAt = reader.Position;
                int bits = reader.U8("bits");
                if (bits is not (1 or 2 or 3 or 4 or 8)) throw reader.Error(bitsAt, $"HQQ codes have 1, 2, 3, 4 or 8 bits; bits is {bits}.");
                int groupAt = reader.Position;
                int group = (int)reader.U32("group_size", int.MaxValue);
                if (group == 0) throw reader.Error(groupAt, "HQQ group_size is 0.");
                int axisAt = reader.Position;
                int axis = reader.U8("axis");
                if (axis > 1) throw reader.Error(axisAt, $"HQQ axis is 0 or 1; it is {axis}.");
                uint steps = reader.U32("optimization_steps");
                bool roundZeros = reader.Bool("round_zeros");
                bool channelWise = reader.Bool("channel_wise");
                var bias = hasBias ? reader.Tensor("bias") : null;
                result = new UqffLayerBlob(UqffLayer.Hqq, [codes, scales, zeros], bias, version: version, bits: bits, groupSize: group,
                    hqq: new HqqLayerConfig(shape, axis, steps, roundZeros, channelWise));
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
        int[] weightDims = layer.Type is UqffLayer.Gguf or UqffLayer.F8Q8 ? layer.GgufDims : layer.Hqq?.Shape ?? layer.Tensors[0].Dims;
        long rows = 1;
        for (int i = 0; i < weightDims.Length - 1; i++) rows *= weightDims[i];
        // Stacked experts (Mxfp4 [E, N, K/2]) carry a bias [E, N]: the weight's leading dimensions.
        bool matches = layer.Bias.Dims.Length == 1
            ? layer.Bias.Dims[0] == rows
            : weightDims.Length == 3 && layer.Bias.Dims.Length == 2 && layer.Bias.Dims[0] == weightDims[0] && layer.Bias.Dims[1] == weightDims[1];
        if (!IsFloat(layer.Bias.DType) || !matches)
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
                if (blocks.Dims.Length != scales.Dims.Length || blocks.Dims.Length is not (2 or 3) || (blocks.Dims.Length == 3 && (blocks.Dims[0] != scales.Dims[0] || blocks.Dims[0] < 1)))
                {
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"Mxfp4 blocks and scales must both be [N, ...] or [E, N, ...]; got [{string.Join(", ", blocks.Dims)}] and [{string.Join(", ", scales.Dims)}]."));
                }
                int experts = blocks.Dims.Length == 3 ? blocks.Dims[0] : 1;
                matrix = new QuantMatrix(format, rows, (int)columns, [blocks.Data, scales.Data], experts);
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
            case UqffLayer.Hqq:
            {
                var view = HqqView.Of(layer);
                if (view.Config.Axis == 0)
                {
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"An HQQ layer grouped along axis 0 (mistral.rs' default) keeps one scale and zero point for the elements c, c + {view.Groups}, c + {2L * view.Groups}, ... of the flattened weight") +
                        ": they stride down the columns, and a format of row-local blocks cannot hold them without requantizing. UqffCodec.DequantizeHqq reads its float weight exactly.");
                }
                var format = QuantFormatRegistry.FindByUqff(UqffLayer.Hqq, layer.Bits, layer.GroupSize)?.Info
                    ?? throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"No registered format is an HQQ layer of {layer.Bits} bits in groups of {layer.GroupSize}; UqffCodec.DequantizeHqq reads its float weight."));
                var (rows, columns) = RowsAndColumns(view.Config.Shape, "HQQ weight (w_shape)");
                if (columns % format.BlockSize != 0)
                {
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"An HQQ weight of shape [{string.Join(", ", view.Config.Shape)}] has rows of {columns} elements, so its groups of {format.BlockSize} straddle rows; UqffCodec.DequantizeHqq reads its float weight."));
                }
                foreach (var (tensor, name, plane) in new[] { (layer.Tensors[1], "scales", 1), (layer.Tensors[2], "zeros", 2) })
                {
                    if (tensor.DType != RecordType(format.Planes[plane]))
                    {
                        // mistral.rs computes (q - zero) * scale in the dtype of the scales, so other dtypes would dequantize differently.
                        throw new QuantFormatException($"HQQ {name} of format '{format.Name}' are {RecordType(format.Planes[plane])}; got {tensor.DType}.");
                    }
                }
                matrix = new QuantMatrix(format, rows, columns, [UnpackHqqCodes(view, format), layer.Tensors[1].Data, layer.Tensors[2].Data]);
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

    /// <summary>
    /// The float weight of an HQQ layer as mistral.rs' CPU dequantization computes it, <c>(q - zero) * scale</c> in the
    /// dtype of the scales (F32, as mistral.rs writes them; F16 and BF16 round after each operation, as its
    /// <c>half</c> types do), in the order of the layer's <c>w_shape</c>. It reads the layers no format holds: those
    /// grouped along axis 0 (mistral.rs' default), groups that straddle rows, widths or group sizes without a
    /// registered format.
    /// </summary>
    /// <param name="layer">A parsed Hqq layer (<see cref="ReadLayer"/>).</param>
    /// <returns>The weight, row-major, <c>w_shape</c> elements.</returns>
    /// <exception cref="QuantFormatException">The layer is not Hqq, is not channel-wise, or its records do not fit its header.</exception>
    public static float[] DequantizeHqq(UqffLayerBlob layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var view = HqqView.Of(layer);
        if (view.Groups * layer.GroupSize > Array.MaxLength)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"An HQQ weight of {view.Groups * layer.GroupSize} elements does not fit one array."));
        }
        float[] scales = view.Scales.ToSingle(), zeros = view.Zeros.ToSingle();
        var dtype = view.Scales.DType;
        var result = new float[view.Groups * layer.GroupSize];
        for (long r = 0; r < view.Rows; r++)
        {
            for (int c = 0; c < view.Columns; c++)
            {
                // The code matrix is the weight viewed as [groups, group_size] (axis 1) or [group_size, groups] (axis 0).
                long group = view.Config.Axis == 1 ? r : c;
                float q = HqqCode(view.Codes.Data, layer.Bits, view.PackedRows, view.Columns, r, c);
                result[r * view.Columns + c] = dtype switch
                {
                    UqffDType.F16 => RoundF16(RoundF16(q - zeros[group]) * scales[group]),
                    UqffDType.BF16 => RoundBf16(RoundBf16(q - zeros[group]) * scales[group]),
                    _ => (q - zeros[group]) * scales[group],
                };
            }
        }
        return result;

        static float RoundF16(float value) => (float)(Half)value;
        static float RoundBf16(float value) => Numerics.Bf16.ToSingle(Numerics.Bf16.FromSingle(value));
    }

    /// <summary>An Hqq layer's records checked against its header. The codes form a <c>[Rows, Columns]</c> matrix before packing.</summary>
    private readonly record struct HqqView(HqqLayerConfig Config, long Groups, long Rows, int Columns, long PackedRows, UqffTensor Codes, UqffTensor Scales, UqffTensor Zeros)
    {
        public static HqqView Of(UqffLayerBlob layer)
        {
            if (layer.Type != UqffLayer.Hqq || layer.Hqq is not { } config || layer.Tensors.Count != 3)
            {
                throw new QuantFormatException($"A UQFF {layer.Type} layer is not an Hqq layer.");
            }
            if (!config.ChannelWise)
            {
                throw new QuantFormatException("An HQQ layer with channel_wise = 0 has one scale for the whole tensor and zero points of another shape; mistral.rs cannot dequantize it either.");
            }
            int group = layer.GroupSize, bits = layer.Bits;
            long elements;
            try
            {
                elements = UqffTensor.ElementCountOf(config.Shape);
            }
            catch (OverflowException)
            {
                throw new QuantFormatException($"An HQQ weight of shape [{string.Join(", ", config.Shape)}] is too large to hold.");
            }
            if (config.Shape.Length == 0 || elements == 0 || group <= 0 || elements % group != 0)
            {
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"An HQQ weight of shape [{string.Join(", ", config.Shape)}] is not a whole, non-zero number of groups of {group}."));
            }
            long groups = elements / group;
            if (config.Axis == 0 && groups > int.MaxValue) throw new QuantFormatException($"An HQQ weight grouped along axis 0 has {groups} groups, too many to hold.");
            long rows = config.Axis == 1 ? groups : group;
            int columns = config.Axis == 1 ? group : (int)groups;
            long packedRows = HqqPackedRows(rows, bits);
            var (codes, scales, zeros) = (layer.Tensors[0], layer.Tensors[1], layer.Tensors[2]);
            if (codes.DType != HqqCodeType(bits) || codes.Dims.Length != 2 || codes.Dims[0] != packedRows || codes.Dims[1] != columns)
            {
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"HQQ {bits}-bit codes (w_q) of a weight [{string.Join(", ", config.Shape)}] in groups of {group} along axis {config.Axis} are {HqqCodeType(bits)} [{packedRows}, {columns}]; got {codes.DType} [{string.Join(", ", codes.Dims)}]."));
            }
            long[] expected = config.Axis == 1 ? [groups, 1] : [1, groups];
            foreach (var (tensor, name) in new[] { (scales, "scales"), (zeros, "zeros") })
            {
                if (!IsFloat(tensor.DType) || tensor.DType == UqffDType.F64 || tensor.DType != scales.DType || tensor.Dims.Length != 2 || tensor.Dims[0] != expected[0] || tensor.Dims[1] != expected[1])
                {
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                        $"HQQ {name} are [{expected[0]}, {expected[1]}] in F32, F16 or BF16, scales and zeros alike; got {tensor.DType} [{string.Join(", ", tensor.Dims)}]."));
                }
            }
            return new HqqView(config, groups, rows, columns, packedRows, codes, scales, zeros);
        }
    }

    // HQQ's bitpack (mobiusml/hqq bitpack.py, as mistral.rs ports it in mistralrs-quant/src/hqq/mod.rs at 1730ccd9,
    // unpacked by hqq_op.rs at 33135dc0): the codes of an [R, C] matrix are packed along
    // dim 0. With k codes per word (8 / bits bytes, or ten 3-bit codes in an i32) and h = ceil(R / k) packed rows,
    // packed row p holds rows p, p + h, ..., p + (k - 1) h, from the top bits down: 4 bits put row p in the high
    // nibble and row p + h in the low one; 3 bits put row p in bits 29..27 and row p + 9h in bits 2..0. mistral.rs
    // pads 3-bit rows to a multiple of 10 with zeros (and needs R to be a multiple of k otherwise); this codec pads
    // every width the same way.

    private static int HqqCodesPerWord(int bits) => bits == 3 ? 10 : 8 / bits;

    private static UqffDType HqqCodeType(int bits) => bits == 3 ? UqffDType.I32 : UqffDType.U8;

    private static long HqqPackedRows(long rows, int bits) => (rows + HqqCodesPerWord(bits) - 1) / HqqCodesPerWord(bits);

    /// <summary>Code <c>[row, column]</c> of a packed code matrix with <paramref name="columns"/> columns.</summary>
    private static int HqqCode(ReadOnlySpan<byte> packed, int bits, long packedRows, int columns, long row, int column)
    {
        long p = row % packedRows;
        int j = (int)(row / packedRows);
        long at = p * columns + column;
        if (bits == 3) return (int)(BinaryPrimitives.ReadUInt32LittleEndian(packed.Slice((int)(at * 4), 4)) >> (27 - 3 * j)) & 7;
        return (packed[(int)at] >> (8 - bits * (j + 1))) & ((1 << bits) - 1);
    }

    /// <summary>The codes plane of a row-local format (one group per block, LSB-first) packed as an axis-1 HQQ <c>w_q</c>.</summary>
    private static byte[] PackHqqCodes(ReadOnlySpan<byte> plane, QuantFormatInfo format, int groups)
    {
        int bits = format.CodeBits, group = format.BlockSize, perBlock = format.Planes[0].BytesPerBlock;
        long packedRows = HqqPackedRows(groups, bits);
        var packed = new byte[checked((int)(packedRows * group * (bits == 3 ? 4 : 1)))];
        for (int m = 0; m < groups; m++)
        {
            ref byte codes = ref MemoryMarshal.GetReference(plane.Slice(m * perBlock, perBlock));
            long p = m % packedRows;
            int j = (int)(m / packedRows);
            for (int i = 0; i < group; i++)
            {
                int code = Numerics.BitPacking.ReadSequential(ref codes, i, bits);
                int at = (int)(p * group + i);
                if (bits == 3)
                {
                    var word = packed.AsSpan(4 * at, 4);
                    BinaryPrimitives.WriteUInt32LittleEndian(word, BinaryPrimitives.ReadUInt32LittleEndian(word) | (uint)code << (27 - 3 * j));
                }
                else
                {
                    packed[at] |= (byte)(code << (8 - bits * (j + 1)));
                }
            }
        }
        return packed;
    }

    /// <summary>The codes plane of <paramref name="format"/> from an axis-1 HQQ <c>w_q</c>: group m becomes block m.</summary>
    private static byte[] UnpackHqqCodes(HqqView view, QuantFormatInfo format)
    {
        int bits = format.CodeBits, group = format.BlockSize, perBlock = format.Planes[0].BytesPerBlock;
        var plane = new byte[checked((int)(view.Groups * perBlock))];
        for (long m = 0; m < view.Groups; m++)
        {
            ref byte codes = ref plane[m * perBlock];
            for (int i = 0; i < group; i++)
            {
                Numerics.BitPacking.WriteSequential(ref codes, i, bits, HqqCode(view.Codes.Data, bits, view.PackedRows, group, m, i));
            }
        }
        return plane;
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
