using System;
using System.Buffers;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using Quant.Kernels;

namespace Quant.Runtime.Checkpoints;

/// <summary>
/// A GPTQ or AWQ weight <c>W [N, K]</c> repacked once into a row-major format of the <c>gptq{bits}_g{block}</c> family
/// (codes LSB first along each output row; an F16 scale and an F16 integer zero point per block; <c>y = (q - z) * s</c>),
/// so that every generic driver (GEMV, GEMM, gather, dequantize) runs on it. With act-order (<c>desc_act</c>) the
/// columns of <see cref="Matrix"/> are the input columns sorted by group, <see cref="ColumnOrder"/> says which input
/// column each one is, and activations are permuted the same way before a matmul (<see cref="PermuteActivations"/>).
/// </summary>
/// <remarks>
/// Groups larger than the block (group size 256, or -1: one group per row) are held by repeating the group's scale
/// and zero point in each of its blocks, which is lossless; <see cref="ToCheckpoint(GptqConfig, bool?)"/> checks that
/// they still agree before it writes one per group. Both directions are exact: checkpoint tensors read and written
/// back are identical, bit for bit.
/// </remarks>
public sealed class GptqWeight
{
    private const int CodesPlane = 0, ScalesPlane = 1, ZerosPlane = 2;

    // Largest first: a group takes the largest declared block that divides it, so a group of 128 costs one scale.
    private static readonly int[] s_blockSizes = [128, 64, 32];

    // AutoAWQ packs output column 8c + s_awqOrder[i] into nibble i of word c; s_awqNibble is its inverse
    // (AWQ_REVERSE_ORDER in AutoAWQ and vLLM): column offset o lives in nibble s_awqNibble[o].
    private static readonly int[] s_awqOrder = [0, 2, 4, 6, 1, 3, 5, 7];
    private static readonly int[] s_awqNibble = [0, 4, 1, 5, 2, 6, 3, 7];

    private static readonly QuantFormatInfo[] s_family =
    [
        Gptq2G32.Info, Gptq2G64.Info, Gptq2G128.Info,
        Gptq3G32.Info, Gptq3G64.Info, Gptq3G128.Info,
        Gptq4G32.Info, Gptq4G64.Info, Gptq4G128.Info,
        Gptq8G32.Info, Gptq8G64.Info, Gptq8G128.Info,
    ];

    private readonly int[]? _columnOrder;
    private readonly QuantFormatEntry _entry;

    /// <summary>Wraps a matrix of the <c>gptq*</c> family (for example one quantized from floats with its <c>rtn</c> rule).</summary>
    /// <param name="matrix">W, <c>[N, K]</c>, in a <c>gptq{bits}_g{block}</c> format.</param>
    /// <param name="columnOrder">
    /// Empty when the matrix's columns are the input columns in order; otherwise <c>K</c> distinct ints:
    /// column <c>j</c> of <paramref name="matrix"/> is input column <c>columnOrder[j]</c>.
    /// </param>
    /// <exception cref="ArgumentException">The matrix is not of the family, or the order is not a permutation of its columns.</exception>
    public GptqWeight(QuantMatrix matrix, ReadOnlySpan<int> columnOrder = default)
        : this(matrix, CheckOrder(matrix, columnOrder), null, false)
    {
    }

    private GptqWeight(QuantMatrix matrix, int[]? columnOrder, GptqConfig? source, bool sourceHadGroupIndex)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (!IsGptqFormat(matrix.Format))
        {
            throw new ArgumentException($"Format '{matrix.Format.Name}' is not one of the gptq{{bits}}_g{{block}} formats.", nameof(matrix));
        }
        if (matrix.Experts != 1) throw new ArgumentException("A GPTQ weight is one matrix, not stacked experts.", nameof(matrix));
        Matrix = matrix;
        _columnOrder = columnOrder;
        Source = source;
        SourceHadGroupIndex = sourceHadGroupIndex;
        QuantCatalog.EnsureRegistered();
        _entry = QuantFormatRegistry.Get(matrix.Format.Name);
    }

    /// <summary>The repacked weight, <c>[N, K]</c>, its columns in <see cref="ColumnOrder"/>.</summary>
    public QuantMatrix Matrix { get; }

    /// <summary>Output features (<c>N</c>).</summary>
    public int OutFeatures => Matrix.Rows;

    /// <summary>Input features (<c>K</c>).</summary>
    public int InFeatures => Matrix.Columns;

    /// <summary>Bits per code.</summary>
    public int Bits => Matrix.Format.CodeBits;

    /// <summary>
    /// Null when the columns of <see cref="Matrix"/> are the input columns in order; otherwise column <c>j</c> of it is
    /// input column <c>ColumnOrder[j]</c> (the input columns sorted by their <c>g_idx</c> group).
    /// </summary>
    public IReadOnlyList<int>? ColumnOrder => _columnOrder;

    /// <summary>The configuration of the checkpoint this weight was read from, or null when it was built from a matrix.</summary>
    public GptqConfig? Source { get; }

    /// <summary>True when the checkpoint this weight was read from had a <c>g_idx</c> tensor.</summary>
    public bool SourceHadGroupIndex { get; }

    /// <summary>True for the formats this type holds (<c>gptq2_g32</c> to <c>gptq8_g128</c>).</summary>
    public static bool IsGptqFormat(QuantFormatInfo format) => Array.IndexOf(s_family, format) >= 0;

    /// <summary>
    /// The format a checkpoint of <paramref name="bits"/>-bit codes in groups of <paramref name="groupSize"/> (-1: one
    /// per row) over <paramref name="inFeatures"/> columns is held in: the largest block of 128, 64 and 32 that divides
    /// both the group size and the row.
    /// </summary>
    /// <exception cref="QuantFormatException">No declared block fits (a group size that is not a multiple of 32), or no format has that many bits.</exception>
    public static QuantFormatInfo FormatFor(int bits, int groupSize, int inFeatures)
    {
        int group = groupSize == -1 ? inFeatures : groupSize;
        foreach (int block in s_blockSizes)
        {
            if (group % block != 0 || inFeatures % block != 0) continue;
            foreach (var format in s_family)
            {
                if (format.CodeBits == bits && format.BlockSize == block) return format;
            }
        }
        throw new QuantFormatException(Text(
            $"No gptq format holds {bits}-bit codes in groups of {group} over rows of {inFeatures}: the group size and the row must be multiples of 32 (blocks of 32, 64 or 128)."));
    }

    /// <summary>
    /// Repacks a checkpoint's tensors into a <c>gptq{bits}_g{block}</c> matrix, checking every shape and value first.
    /// </summary>
    /// <param name="config">The flavour, bit width and group size the checkpoint's config states.</param>
    /// <param name="tensors">The layer's <c>qweight</c>, <c>qzeros</c>, <c>scales</c> and (GPTQ, optional) <c>g_idx</c>.</param>
    /// <exception cref="QuantFormatException">
    /// The config is invalid, or a tensor has the wrong shape, a <c>g_idx</c> value outside the groups or groups that
    /// are not whole, or a scale that is not finite; the message names the tensor.
    /// </exception>
    public static GptqWeight FromCheckpoint(GptqConfig config, GptqTensors tensors)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tensors);
        RequireLittleEndian();
        config.Validate();
        bool awq = config.Flavor == GptqFlavor.Awq;
        int bits = config.Bits;
        var qweight = tensors.QWeight ?? throw new QuantFormatException("Tensor 'qweight' is missing.");
        var qzerosTensor = tensors.QZeros ?? throw new QuantFormatException("Tensor 'qzeros' is missing.");
        var scalesTensor = tensors.Scales ?? throw new QuantFormatException("Tensor 'scales' is missing.");
        if (qweight.Shape.Count != 2) throw new QuantFormatException($"Tensor 'qweight' has shape {qweight.ShapeText}; it must have 2 dims.");

        // K and N come from qweight; every other tensor is checked against them.
        long k = awq ? qweight.Shape[0] : (long)qweight.Shape[0] * 32 / bits;
        long n = awq ? (long)qweight.Shape[1] * 8 : qweight.Shape[1];
        if (k <= 0 || k % 32 != 0 || k > int.MaxValue || (!awq && (long)qweight.Shape[0] * 32 % bits != 0))
        {
            throw new QuantFormatException(Text(
                $"Tensor 'qweight' has shape {qweight.ShapeText}, which gives {k} input features; they must be a positive multiple of 32."));
        }
        if (n <= 0 || n > int.MaxValue) throw new QuantFormatException($"Tensor 'qweight' has shape {qweight.ShapeText}, which gives no output features.");
        if (!awq && n * bits % 32 != 0)
        {
            throw new QuantFormatException(Text(
                $"Tensor 'qweight' has {n} output columns, which do not fill whole int32 words of 'qzeros' at {bits} bits."));
        }
        int columns = (int)k, rows = (int)n;
        int group = config.ResolveGroupSize(columns);
        int groups = (columns + group - 1) / group;
        var format = FormatFor(bits, group, columns);
        if ((long)rows * columns > int.MaxValue) throw new QuantFormatException(Text($"A {rows} x {columns} weight is larger than one matrix can hold."));

        qweight.CheckShape("qweight", awq ? [columns, rows / 8] : [(long)columns * bits / 32, rows]);
        qzerosTensor.CheckShape("qzeros", groups, awq ? rows / 8 : (long)rows * bits / 32);
        scalesTensor.CheckShape("scales", groups, rows);
        int[]? order = null;
        if (tensors.GIdx is { } gIdx)
        {
            if (awq) throw new QuantFormatException("Tensor 'g_idx' is given, but AWQ checkpoints have none (AWQ does not reorder columns).");
            gIdx.CheckShape("g_idx", columns);
            order = ColumnOrderFromGroupIndex(gIdx.Data.Span, columns, group, groups);
        }
        var scales = scalesTensor.Data.Span;
        for (int i = 0; i < scales.Length; i++)
        {
            if (!Half.IsFinite(scales[i]))
            {
                throw new QuantFormatException(Text($"Tensor 'scales' holds {(float)scales[i]} at [{i / rows}, {i % rows}]; scales must be finite."));
            }
        }

        var matrix = new QuantMatrix(format, rows, columns);
        var codes = MemoryMarshal.Cast<byte, uint>(matrix.Plane(CodesPlane).Span);
        if (awq) UnpackAwqCodes(MemoryMarshal.Cast<int, uint>(qweight.Data.Span), codes, rows, columns);
        else UnpackGptqCodes(MemoryMarshal.Cast<int, uint>(qweight.Data.Span), codes, rows, columns, bits, order);

        // One F16 scale and zero point per block; a group of several blocks repeats its own in each.
        var blockScales = MemoryMarshal.Cast<byte, ushort>(matrix.Plane(ScalesPlane).Span);
        var blockZeros = MemoryMarshal.Cast<byte, ushort>(matrix.Plane(ZerosPlane).Span);
        var qzeros = MemoryMarshal.Cast<int, uint>(qzerosTensor.Data.Span);
        int block = format.BlockSize, blocks = columns / block;
        int zeroWords = awq ? rows / 8 : rows * bits / 32;
        for (int g = 0; g < groups; g++)
        {
            var zeroRow = qzeros.Slice(g * zeroWords, zeroWords);
            int firstBlock = g * group / block, endBlock = (int)(Math.Min((long)(g + 1) * group, columns) / block);
            for (int r = 0; r < rows; r++)
            {
                uint field = awq ? (zeroRow[r / 8] >> (4 * s_awqNibble[r % 8])) & 0xF : ReadField(zeroRow, r, bits);
                ushort zero = BitConverter.HalfToUInt16Bits((Half)(int)(field + (uint)config.MinZero));
                ushort scale = BitConverter.HalfToUInt16Bits(scales[g * rows + r]);
                var rowScales = blockScales.Slice(r * blocks, blocks);
                var rowZeros = blockZeros.Slice(r * blocks, blocks);
                for (int b = firstBlock; b < endBlock; b++)
                {
                    rowScales[b] = scale;
                    rowZeros[b] = zero;
                }
            }
        }
        return new GptqWeight(matrix, order, config, tensors.GIdx is not null);
    }

    /// <summary>Writes the weight back in the configuration it was read from (see <see cref="ToCheckpoint(GptqConfig, bool?)"/>).</summary>
    /// <exception cref="InvalidOperationException">The weight was not read from a checkpoint.</exception>
    public GptqTensors ToCheckpoint()
        => ToCheckpoint(Source ?? throw new InvalidOperationException("This weight was built from a matrix; name the checkpoint configuration to write."));

    /// <summary>
    /// The checkpoint tensors of this weight in <paramref name="config"/>'s layout: <c>qweight</c>, <c>qzeros</c>,
    /// <c>scales</c> and, for GPTQ, <c>g_idx</c>.
    /// </summary>
    /// <param name="config">The flavour, bit width (that of the weight) and group size (a whole number of blocks) to write.</param>
    /// <param name="groupIndex">
    /// Whether to write <c>g_idx</c> (GPTQ only); null writes it when the source checkpoint had one, or always for a
    /// weight not read from a GPTQ checkpoint (AutoGPTQ always writes it). A permuted weight always needs it.
    /// </param>
    /// <exception cref="QuantFormatException">
    /// The weight does not fit the configuration: another bit width, groups that are not whole blocks, blocks of one
    /// group with different scales or zero points, a zero point that is not an integer the flavour can store, a scale
    /// that is not finite, permuted columns without <c>g_idx</c> (or for AWQ), or an output count the packing cannot hold.
    /// </exception>
    public GptqTensors ToCheckpoint(GptqConfig config, bool? groupIndex = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        RequireLittleEndian();
        config.Validate();
        bool awq = config.Flavor == GptqFlavor.Awq;
        int bits = config.Bits, rows = OutFeatures, columns = InFeatures, block = Matrix.Format.BlockSize, blocks = columns / block;
        if (bits != Bits) throw new QuantFormatException(Text($"bits = {bits}: this weight holds {Bits}-bit codes ({Matrix.Format.Name})."));
        int group = config.ResolveGroupSize(columns);
        if (group % block != 0)
        {
            throw new QuantFormatException(Text($"group_size = {group}: a {Matrix.Format.Name} weight has a scale per {block} columns, so a group must be whole blocks."));
        }
        bool writeGroupIndex = !awq && (groupIndex ?? (Source is null || Source.Flavor == GptqFlavor.Awq || SourceHadGroupIndex));
        if (awq && groupIndex == true) throw new ArgumentException("AWQ checkpoints have no g_idx.", nameof(groupIndex));
        if (_columnOrder is not null && !writeGroupIndex)
        {
            throw new QuantFormatException(awq
                ? "Tensor 'g_idx' would be needed: this weight's columns are permuted (act-order), which AWQ checkpoints cannot say."
                : "Tensor 'g_idx' would be needed: this weight's columns are permuted (act-order).");
        }
        if (awq ? rows % 8 != 0 : (long)rows * bits % 32 != 0)
        {
            throw new QuantFormatException(Text($"Tensor 'qzeros' cannot hold {rows} output columns at {bits} bits in whole int32 words."));
        }
        int groups = (columns + group - 1) / group;
        int zeroWords = awq ? rows / 8 : rows * bits / 32;
        var scales = new Half[(long)groups * rows];
        var qzeros = new int[(long)groups * zeroWords];
        var zeroBits = MemoryMarshal.Cast<int, uint>(qzeros.AsSpan());
        var blockScales = MemoryMarshal.Cast<byte, ushort>(Matrix.Plane(ScalesPlane).Span);
        var blockZeros = MemoryMarshal.Cast<byte, ushort>(Matrix.Plane(ZerosPlane).Span);
        for (int g = 0; g < groups; g++)
        {
            int firstBlock = g * group / block, endBlock = (int)(Math.Min((long)(g + 1) * group, columns) / block);
            var zeroRow = zeroBits.Slice(g * zeroWords, zeroWords);
            for (int r = 0; r < rows; r++)
            {
                var rowScales = blockScales.Slice(r * blocks, blocks);
                var rowZeros = blockZeros.Slice(r * blocks, blocks);
                ushort scale = rowScales[firstBlock];
                float zero = (float)BitConverter.UInt16BitsToHalf(rowZeros[firstBlock]);
                for (int b = firstBlock + 1; b < endBlock; b++)
                {
                    if (rowScales[b] != scale || (float)BitConverter.UInt16BitsToHalf(rowZeros[b]) != zero)
                    {
                        throw new QuantFormatException(Text(
                            $"Tensor '{(rowScales[b] != scale ? "scales" : "qzeros")}' cannot be written: row {r} has blocks of {block} columns with different {(rowScales[b] != scale ? "scales" : "zero points")} in group {g} of {group} columns, which holds one."));
                    }
                }
                Half value = BitConverter.UInt16BitsToHalf(scale);
                if (!Half.IsFinite(value)) throw new QuantFormatException(Text($"Tensor 'scales' cannot hold {(float)value} at [{g}, {r}]; scales must be finite."));
                if (!(zero >= config.MinZero && zero <= config.MaxZero) || zero != MathF.Floor(zero))
                {
                    throw new QuantFormatException(Text(
                        $"Tensor 'qzeros' cannot hold the zero point {zero} of row {r}, group {g}: {config.Flavor} stores integers from {config.MinZero} to {config.MaxZero}."));
                }
                scales[(long)g * rows + r] = value;
                uint field = (uint)((int)zero - config.MinZero);
                if (awq) zeroRow[r / 8] |= field << (4 * s_awqNibble[r % 8]);
                else WriteField(zeroRow, r, bits, field);
            }
        }

        var codes = MemoryMarshal.Cast<byte, uint>(Matrix.Plane(CodesPlane).Span);
        int[] qweight;
        if (awq)
        {
            qweight = new int[(long)columns * rows / 8];
            PackAwqCodes(codes, MemoryMarshal.Cast<int, uint>(qweight.AsSpan()), rows, columns);
        }
        else
        {
            qweight = new int[(long)columns * bits / 32 * rows];
            PackGptqCodes(codes, MemoryMarshal.Cast<int, uint>(qweight.AsSpan()), rows, columns, bits, _columnOrder);
        }
        CheckpointTensor<int>? gIdx = null;
        if (writeGroupIndex)
        {
            var values = new int[columns];
            for (int j = 0; j < columns; j++) values[_columnOrder?[j] ?? j] = j / group;
            gIdx = new CheckpointTensor<int>(values, columns);
        }
        return new GptqTensors(
            new CheckpointTensor<int>(qweight, awq ? [columns, rows / 8] : [columns * bits / 32, rows]),
            new CheckpointTensor<int>(qzeros, groups, zeroWords),
            new CheckpointTensor<Half>(scales, groups, rows),
            gIdx);
    }

    /// <summary>
    /// Puts activations in the column order of <see cref="Matrix"/>: <c>destination[b, j] = x[b, ColumnOrder[j]]</c>
    /// (a copy when the order is the identity).
    /// </summary>
    /// <param name="x">Activations, <c>[batch, K]</c>, in the input column order.</param>
    /// <param name="destination">The permuted activations, as many floats as <paramref name="x"/>.</param>
    /// <exception cref="ArgumentException">The lengths differ or are not whole rows of <c>K</c>.</exception>
    public void PermuteActivations(ReadOnlySpan<float> x, Span<float> destination)
    {
        int k = InFeatures;
        if (x.Length % k != 0) throw new ArgumentException(Text($"x holds {x.Length} floats, not a whole number of rows of {k}."), nameof(x));
        if (destination.Length != x.Length) throw new ArgumentException(Text($"The destination must hold {x.Length} floats."), nameof(destination));
        if (_columnOrder is null)
        {
            x.CopyTo(destination);
            return;
        }
        for (int start = 0; start < x.Length; start += k)
        {
            var source = x.Slice(start, k);
            var target = destination.Slice(start, k);
            for (int j = 0; j < k; j++) target[j] = source[_columnOrder[j]];
        }
    }

    /// <summary>Dequantizes output row <paramref name="row"/> into <paramref name="destination"/> (<c>K</c> floats) in the input column order.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="row"/> is not in [0, N).</exception>
    /// <exception cref="ArgumentException">The destination is not <c>K</c> floats.</exception>
    public void DequantizeRow(int row, Span<float> destination, SimdLevel? level = null)
    {
        int k = InFeatures;
        if (destination.Length != k) throw new ArgumentException(Text($"The destination must hold {k} floats."), nameof(destination));
        if (_columnOrder is null)
        {
            _entry.DequantizeBlocks(Matrix.Row(row), 0, destination, level ?? QuantSimd.Best);
            return;
        }
        float[] scratch = ArrayPool<float>.Shared.Rent(k);
        try
        {
            var sorted = scratch.AsSpan(0, k);
            _entry.DequantizeBlocks(Matrix.Row(row), 0, sorted, level ?? QuantSimd.Best);
            for (int j = 0; j < k; j++) destination[_columnOrder[j]] = sorted[j];
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>Dequantizes the whole weight into <paramref name="destination"/> (<c>[N, K]</c> floats) in the input column order.</summary>
    /// <exception cref="ArgumentException">The destination is not <c>N * K</c> floats.</exception>
    public void Dequantize(Span<float> destination, int threads = 0, SimdLevel? level = null)
    {
        FormatKernels.For(_entry).Dequantize(Matrix, destination, threads, level);
        if (_columnOrder is null) return;
        int k = InFeatures;
        float[] scratch = ArrayPool<float>.Shared.Rent(k);
        try
        {
            var sorted = scratch.AsSpan(0, k);
            for (int start = 0; start < destination.Length; start += k)
            {
                var row = destination.Slice(start, k);
                row.CopyTo(sorted);
                for (int j = 0; j < k; j++) row[_columnOrder[j]] = sorted[j];
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>Converts to the registered format named <paramref name="format"/> (see <see cref="ConvertTo(QuantFormatEntry, int, ReadOnlySpan{float}, int)"/>).</summary>
    /// <param name="format">The target format's name (<c>q4_0</c>, <c>q8_0</c>, <c>mxfp4</c>...).</param>
    /// <param name="rule">The quantization rule's name; null for the target's default.</param>
    /// <param name="importance">Per-input-column importance (<c>K</c> floats, input column order), or empty.</param>
    /// <param name="threads">Worker threads; 0 for all.</param>
    /// <exception cref="QuantFormatException">No format has that name, it has no such rule, or its block does not divide <c>K</c>.</exception>
    public QuantMatrix ConvertTo(string format, string? rule = null, ReadOnlySpan<float> importance = default, int threads = 0)
    {
        QuantCatalog.EnsureRegistered();
        var entry = QuantFormatRegistry.Get(format);
        return ConvertTo(entry, entry.Info.FindRule(rule), importance, threads);
    }

    /// <summary>
    /// Converts to another registered format: rows are dequantized in the input column order (exactly: every value
    /// <c>(q - z) * s</c> is a float) and quantized with the target's kernels. Formats whose planes are all per block
    /// are converted a slice of rows at a time; formats with per-tensor or per-tile planes need the whole matrix at once.
    /// </summary>
    /// <param name="target">The target format.</param>
    /// <param name="rule">Index of the rule in the target's <see cref="QuantFormatInfo.Rules"/>; -1 for its default.</param>
    /// <param name="importance">Per-input-column importance (<c>K</c> floats, input column order), or empty.</param>
    /// <param name="threads">Worker threads; 0 for all.</param>
    /// <returns>W, <c>[N, K]</c>, in the target format, columns in the input order.</returns>
    /// <exception cref="QuantFormatException">The target's block does not divide <c>K</c>.</exception>
    public QuantMatrix ConvertTo(QuantFormatEntry target, int rule = -1, ReadOnlySpan<float> importance = default, int threads = 0)
    {
        ArgumentNullException.ThrowIfNull(target);
        var info = target.Info;
        int rows = OutFeatures, columns = InFeatures;
        info.CheckColumns(columns);
        var kernels = FormatKernels.For(target);
        bool rowLocal = true;
        foreach (var plane in info.Planes) rowLocal &= plane.Extent == PlaneExtent.Block;
        if (!rowLocal)
        {
            var all = new float[(long)rows * columns];
            Dequantize(all, threads);
            return kernels.Quantize(all, rows, columns, rule, importance, threads);
        }

        var result = new QuantMatrix(info, rows, columns);
        int slice = Math.Clamp((1 << 20) / columns, 1, rows);
        var buffer = new float[(long)slice * columns];
        for (int first = 0; first < rows; first += slice)
        {
            int count = Math.Min(slice, rows - first);
            for (int r = 0; r < count; r++) DequantizeRow(first + r, buffer.AsSpan(r * columns, columns));
            var part = kernels.Quantize(buffer.AsSpan(0, count * columns), count, columns, rule, importance, threads);
            for (int p = 0; p < info.Planes.Count; p++)
            {
                part.Plane(p).Span.CopyTo(result.Plane(p).Span.Slice((int)((long)first * info.RowBytes(p, columns))));
            }
        }
        return result;
    }

    /// <summary>GPTQ: each output column's codes are an LSB-first bit stream down the column of <c>qweight</c>, which is the
    /// byte layout of a row of the codes plane, so without act-order the repacking is a transpose of 32-bit words.</summary>
    private static void UnpackGptqCodes(ReadOnlySpan<uint> qweight, Span<uint> codes, int rows, int columns, int bits, int[]? order)
    {
        int words = columns / 32 * bits;
        if (order is null)
        {
            for (int w = 0; w < words; w++)
            {
                var source = qweight.Slice(w * rows, rows);
                for (int r = 0; r < rows; r++) codes[r * words + w] = source[r];
            }
            return;
        }
        var column = new uint[words];
        for (int r = 0; r < rows; r++)
        {
            for (int w = 0; w < words; w++) column[w] = qweight[w * rows + r];
            var row = codes.Slice(r * words, words);
            for (int j = 0; j < columns; j++) WriteField(row, j, bits, ReadField(column, order[j], bits));
        }
    }

    private static void PackGptqCodes(ReadOnlySpan<uint> codes, Span<uint> qweight, int rows, int columns, int bits, int[]? order)
    {
        int words = columns / 32 * bits;
        if (order is null)
        {
            for (int w = 0; w < words; w++)
            {
                var target = qweight.Slice(w * rows, rows);
                for (int r = 0; r < rows; r++) target[r] = codes[r * words + w];
            }
            return;
        }
        var column = new uint[words];
        for (int r = 0; r < rows; r++)
        {
            Array.Clear(column);
            var row = codes.Slice(r * words, words);
            for (int j = 0; j < columns; j++) WriteField(column, order[j], bits, ReadField(row, j, bits));
            for (int w = 0; w < words; w++) qweight[w * rows + r] = column[w];
        }
    }

    /// <summary>AWQ: word <c>[k, c]</c> holds input column k of outputs 8c + 0, 2, 4, 6, 1, 3, 5, 7 in nibbles 0 to 7.</summary>
    private static void UnpackAwqCodes(ReadOnlySpan<uint> qweight, Span<uint> codes, int rows, int columns)
    {
        int packed = rows / 8, words = columns / 8;
        for (int k = 0; k < columns; k++)
        {
            var source = qweight.Slice(k * packed, packed);
            int word = k >> 3, shift = (k & 7) * 4;
            for (int c = 0; c < packed; c++)
            {
                uint value = source[c];
                for (int i = 0; i < 8; i++) codes[(c * 8 + s_awqOrder[i]) * words + word] |= ((value >> (4 * i)) & 0xF) << shift;
            }
        }
    }

    private static void PackAwqCodes(ReadOnlySpan<uint> codes, Span<uint> qweight, int rows, int columns)
    {
        int packed = rows / 8, words = columns / 8;
        for (int k = 0; k < columns; k++)
        {
            var target = qweight.Slice(k * packed, packed);
            int word = k >> 3, shift = (k & 7) * 4;
            for (int c = 0; c < packed; c++)
            {
                uint value = 0;
                for (int i = 0; i < 8; i++) value |= ((codes[(c * 8 + s_awqOrder[i]) * words + word] >> shift) & 0xF) << (4 * i);
                target[c] = value;
            }
        }
    }

    /// <summary>
    /// The input columns sorted by group (stable), or null when <c>g_idx</c> is the trivial <c>k / G</c>. Each group must
    /// hold as many columns as the trivial grouping gives it (act-order permutes columns, it does not resize groups).
    /// </summary>
    private static int[]? ColumnOrderFromGroupIndex(ReadOnlySpan<int> groupIndex, int columns, int group, int groups)
    {
        var counts = new int[groups];
        bool trivial = true;
        for (int c = 0; c < columns; c++)
        {
            int g = groupIndex[c];
            if ((uint)g >= (uint)groups)
            {
                throw new QuantFormatException(Text($"Tensor 'g_idx' holds {g} at [{c}]; the groups are 0 to {groups - 1}."));
            }
            counts[g]++;
            trivial &= g == c / group;
        }
        if (trivial) return null;
        var next = new int[groups];
        for (int g = 0; g < groups; g++)
        {
            int expected = Math.Min(group, columns - g * group);
            if (counts[g] != expected)
            {
                throw new QuantFormatException(Text(
                    $"Tensor 'g_idx' puts {counts[g]} columns in group {g}, which holds {expected}: act-order permutes whole groups of {group}."));
            }
            next[g] = g * group;
        }
        var order = new int[columns];
        for (int c = 0; c < columns; c++) order[next[groupIndex[c]]++] = c;
        return order;
    }

    private static int[]? CheckOrder(QuantMatrix matrix, ReadOnlySpan<int> order)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        if (order.IsEmpty) return null;
        int k = matrix.Columns;
        if (order.Length != k) throw new ArgumentException(Text($"The column order must hold {k} ints; it holds {order.Length}."), nameof(order));
        var seen = new bool[k];
        bool identity = true;
        for (int j = 0; j < k; j++)
        {
            int c = order[j];
            if ((uint)c >= (uint)k || seen[c]) throw new ArgumentException(Text($"The column order is not a permutation of 0 to {k - 1} (at [{j}]: {c})."), nameof(order));
            seen[c] = true;
            identity &= c == j;
        }
        return identity ? null : order.ToArray();
    }

    /// <summary>Field <paramref name="index"/> of an LSB-first bit stream of <paramref name="bits"/>-bit fields (3-bit fields straddle words).</summary>
    private static uint ReadField(ReadOnlySpan<uint> words, int index, int bits)
    {
        long bit = (long)index * bits;
        int w = (int)(bit >> 5), shift = (int)(bit & 31);
        ulong window = words[w];
        if (shift + bits > 32) window |= (ulong)words[w + 1] << 32;
        return (uint)(window >> shift) & ((1u << bits) - 1);
    }

    /// <summary>ORs <paramref name="value"/> into field <paramref name="index"/> of a cleared LSB-first bit stream.</summary>
    private static void WriteField(Span<uint> words, int index, int bits, uint value)
    {
        long bit = (long)index * bits;
        int w = (int)(bit >> 5), shift = (int)(bit & 31);
        ulong shifted = (ulong)value << shift;
        words[w] |= (uint)shifted;
        if (shift + bits > 32) words[w + 1] |= (uint)(shifted >> 32);
    }

    // The planes are read as little-endian words (the codes plane's bit stream and the F16 planes are defined on bytes).
    private static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("GPTQ repacking reads planes as little-endian words.");
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
