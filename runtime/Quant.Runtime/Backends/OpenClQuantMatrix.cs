using System;
using System.Globalization;
using Quant.Kernels;
using Quant.Runtime.OpenCl;

namespace Quant.Runtime;

/// <summary>Which kernel computes a product.</summary>
public enum MatMulKernel
{
    /// <summary>GEMV for up to <see cref="OpenClQuantMatrix.GemvBatchLimit"/> activation rows, tiled GEMM above.</summary>
    Auto,
    /// <summary>The fused GEMV, once per activation row.</summary>
    Gemv,
    /// <summary>The tiled GEMM.</summary>
    Gemm,
}

/// <summary>
/// A quantized weight on an OpenCL device: its planes are uploaded once, and the format's generated kernels (its
/// <see cref="IQuantFormat{TSelf}.OpenClSource"/> with the shared templates) run on them. The host-memory methods of
/// <see cref="DeviceQuantMatrix"/> copy inputs in and results out; the <c>Enqueue*</c> methods work on device buffers and
/// return the kernel's event (for timing), so that layers can keep activations on the device.
/// </summary>
/// <remarks>Calls on one instance are serialised (kernel arguments are per instance); instances may be used from different threads.</remarks>
public sealed class OpenClQuantMatrix : DeviceQuantMatrix
{
    /// <summary>Environment variable: rows per work-group of GEMV, gather and dequantize (1 to 4), instead of the layout's choice.</summary>
    public const string RowsVariable = "QUANT_OPENCL_ROWS";

    /// <summary>Environment variable: extra OpenCL build options for the format programs (<c>-cl-nv-verbose</c>, <c>-cl-nv-maxrregcount=64</c>).</summary>
    public const string OptionsVariable = "QUANT_OPENCL_OPTIONS";

    /// <summary>Environment variable: <c>staged</c> runs the GEMV that stages and computes in turn, instead of the streaming one where it applies.</summary>
    public const string GemvVariable = "QUANT_OPENCL_GEMV";

    /// <summary>Environment variable: work-groups of the streaming GEMV per compute unit (default 2).</summary>
    public const string StreamGroupsVariable = "QUANT_OPENCL_STREAM_GROUPS";

    /// <summary>True when GEMV runs the streaming kernel (persistent work-groups that fetch the next rows while computing).</summary>
    public bool StreamingGemv => _streams;

    /// <summary>Batches up to this many rows run the GEMV once per row; larger ones the tiled GEMM.</summary>
    public const int GemvBatchLimit = 8;

    private readonly object _gate = new();
    private readonly OpenClBuffer[] _planes = new OpenClBuffer[4];
    private readonly OpenClBuffer _empty;
    private readonly OpenClKernel _gemv, _gemvStream, _gemm, _gather, _dequantizeF32, _dequantizeF16;
    private readonly bool _streams;
    private readonly int _rowsPerGroup;

    /// <summary>Rows each GEMV / gather / dequantize work-group computes.</summary>
    public int RowsPerGroup => _rowsPerGroup;

    /// <summary>Builds the format's program (once per context) and uploads the matrix's planes.</summary>
    /// <exception cref="NotSupportedException">The format has no OpenCL source (its declaration got warning QG0023).</exception>
    /// <exception cref="OpenClException">The build or an upload fails.</exception>
    public OpenClQuantMatrix(OpenClContext context, QuantMatrix matrix) : base(matrix)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
        string source = SourceOf(matrix.Format);
        _rowsPerGroup = DeviceKernels.RowsPerGroup(source);
        // Tuning knobs, for measuring variants without rebuilding: rows per work-group (1 to 4) and extra build options.
        if (int.TryParse(Environment.GetEnvironmentVariable(RowsVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int rows) && rows is >= 1 and <= 4)
        {
            _rowsPerGroup = rows;
        }
        string options = "-D QK_ROWS=" + _rowsPerGroup.ToString(CultureInfo.InvariantCulture);
        if (Environment.GetEnvironmentVariable(OptionsVariable) is { Length: > 0 } extra) options += " " + extra;
        Program = context.Build(DeviceKernels.OpenClProgram(source), options);
        // The streaming GEMV needs rows of one segment, whole chunks, and plane rows of whole 16-byte units.
        _streams = Environment.GetEnvironmentVariable(GemvVariable) != "staged"
            && matrix.Columns <= DeviceKernels.SegmentElements(source) && matrix.Columns % DeviceKernels.ChunkElements(source) == 0;
        for (int p = 0; p < matrix.Format.Planes.Count; p++)
        {
            if (matrix.Format.Planes[p].Extent != PlaneExtent.Tensor && matrix.Format.RowBytes(p, matrix.Columns) % 16 != 0) _streams = false;
        }
        _empty = context.Allocate(16);
        try
        {
            for (int p = 0; p < 4; p++) _planes[p] = p < matrix.Format.Planes.Count ? context.Upload<byte>(matrix.Plane(p).Span) : _empty;
            _gemv = Program.CreateKernel("quant_gemv");
            _gemvStream = Program.CreateKernel("quant_gemv_stream");
            _gemm = Program.CreateKernel("quant_gemm");
            _gather = Program.CreateKernel("quant_gather");
            _dequantizeF32 = Program.CreateKernel("quant_dequantize_f32");
            _dequantizeF16 = Program.CreateKernel("quant_dequantize_f16");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The OpenCL source of <paramref name="format"/>, from its registration.</summary>
    /// <exception cref="NotSupportedException">The format is not registered or has no OpenCL source.</exception>
    public static string SourceOf(QuantFormatInfo format)
    {
        ArgumentNullException.ThrowIfNull(format);
        QuantCatalog.EnsureRegistered();
        if (!QuantFormatRegistry.TryGet(format.Name, out var entry) || !ReferenceEquals(entry.Info, format))
        {
            throw new NotSupportedException($"Format '{format.Name}' is not registered, so its OpenCL kernels cannot be found.");
        }
        return entry.OpenClSource ?? throw new NotSupportedException(
            $"Format '{format.Name}' has no OpenCL kernels: the generator could not write device code for its declaration (see its warning QG0023).");
    }

    /// <summary>The context the planes live in.</summary>
    public OpenClContext Context { get; }

    /// <summary>The format's program.</summary>
    public OpenClProgram Program { get; }

    /// <inheritdoc/>
    public override Backend Backend => Backend.OpenCl;

    /// <summary>Bytes of the planes on the device.</summary>
    public long DeviceBytes => Matrix.Bytes;

    private int RowsPerExpert => Rows / Matrix.Experts;

    /// <inheritdoc/>
    public override void Dequantize(Span<float> destination)
    {
        CheckLength(destination.Length);
        using var y = Context.Allocate((long)destination.Length * sizeof(float));
        using (EnqueueDequantize(y, half: false)) y.Read(destination);
    }

    /// <inheritdoc/>
    public override void Dequantize(Span<Half> destination)
    {
        CheckLength(destination.Length);
        using var y = Context.Allocate((long)destination.Length * 2);
        using (EnqueueDequantize(y, half: true)) y.Read(destination);
    }

    /// <summary>Enqueues the dequantization of the whole matrix into <paramref name="y"/> (<c>[Rows, Columns]</c> float32, or binary16 when <paramref name="half"/>).</summary>
    public OpenClEvent EnqueueDequantize(OpenClBuffer y, bool half)
    {
        ArgumentNullException.ThrowIfNull(y);
        if (y.Bytes < (long)Rows * Columns * (half ? 2 : 4)) throw new ArgumentException("The output buffer is too small.", nameof(y));
        lock (_gate)
        {
            var kernel = half ? _dequantizeF16 : _dequantizeF32;
            SetPlanes(kernel).Arg(4, Rows).Arg(5, Columns).Arg(6, RowsPerExpert).Arg(7, y);
            return kernel.Enqueue([Groups(Rows, _rowsPerGroup) * DeviceKernels.WorkGroupSize], [DeviceKernels.WorkGroupSize]);
        }
    }

    /// <inheritdoc/>
    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default)
    {
        int k = Columns, n = Rows;
        if (x.Length % k != 0) throw new ArgumentException(Text($"x holds {x.Length} floats, not a whole number of rows of {k}."), nameof(x));
        int batch = x.Length / k;
        if (y.Length != (long)batch * n) throw new ArgumentException(Text($"y must hold {batch} x {n} floats; it holds {y.Length}."), nameof(y));
        if (!bias.IsEmpty && bias.Length != n) throw new ArgumentException(Text($"The bias must hold {n} floats; it holds {bias.Length}."), nameof(bias));
        if (batch == 0 || n == 0) return;
        using var xs = Context.Upload(x);
        using var ys = Context.Allocate((long)y.Length * sizeof(float));
        using var bs = bias.IsEmpty ? null : Context.Upload(bias);
        using (EnqueueMatMul(xs, batch, ys, bs)) ys.Read(y);
    }

    /// <summary>
    /// Enqueues <c>y = x W^T + bias</c> on device buffers: <paramref name="x"/> <c>[batch, K]</c> floats, <paramref name="y"/>
    /// <c>[batch, N]</c>, <paramref name="bias"/> <c>N</c> floats or null. The event times the kernel(s).
    /// </summary>
    public OpenClEvent EnqueueMatMul(OpenClBuffer x, int batch, OpenClBuffer y, OpenClBuffer? bias = null, MatMulKernel kernel = MatMulKernel.Auto)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        if (x.Bytes < (long)batch * Columns * 4 || y.Bytes < (long)batch * Rows * 4) throw new ArgumentException("A buffer is too small for the batch.", nameof(batch));
        if (bias is not null && bias.Bytes < (long)Rows * 4) throw new ArgumentException("The bias buffer is too small.", nameof(bias));
        bool gemv = kernel == MatMulKernel.Gemv || (kernel == MatMulKernel.Auto && batch <= GemvBatchLimit);
        lock (_gate)
        {
            if (gemv && _streams)
            {
                int perUnit = int.TryParse(Environment.GetEnvironmentVariable(StreamGroupsVariable), NumberStyles.None, CultureInfo.InvariantCulture, out int g) && g > 0 ? g : 2;
                long groups = Math.Min(Groups(Rows, _rowsPerGroup), (long)Context.Device.ComputeUnits * perUnit);
                SetPlanes(_gemvStream).Arg(4, Rows).Arg(5, Columns).Arg(6, RowsPerExpert).Arg(7, x).Arg(8, bias ?? _empty).Arg(9, bias is null ? 0 : 1).Arg(10, y);
                return _gemvStream.Enqueue([groups * DeviceKernels.WorkGroupSize, batch], [DeviceKernels.WorkGroupSize, 1]);
            }
            if (gemv)
            {
                SetPlanes(_gemv).Arg(4, Rows).Arg(5, Columns).Arg(6, RowsPerExpert).Arg(7, x).Arg(8, bias ?? _empty).Arg(9, bias is null ? 0 : 1).Arg(10, y);
                return _gemv.Enqueue([Groups(Rows, _rowsPerGroup) * DeviceKernels.WorkGroupSize, batch], [DeviceKernels.WorkGroupSize, 1]);
            }
            SetPlanes(_gemm).Arg(4, Rows).Arg(5, Columns).Arg(6, RowsPerExpert).Arg(7, batch).Arg(8, x).Arg(9, bias ?? _empty).Arg(10, bias is null ? 0 : 1).Arg(11, y);
            return _gemm.Enqueue([Groups(Rows, DeviceKernels.GemmTile) * DeviceKernels.WorkGroupSize, Groups(batch, DeviceKernels.GemmTile)],
                [DeviceKernels.WorkGroupSize, 1]);
        }
    }

    /// <inheritdoc/>
    public override void Gather(int expertCount, ReadOnlySpan<float> x, ReadOnlySpan<int> indices, Span<float> y, ReadOnlySpan<float> bias = default)
    {
        if (expertCount <= 0 || Rows % expertCount != 0) throw new ArgumentException(Text($"{Rows} rows do not split into {expertCount} experts."), nameof(expertCount));
        int k = Columns, n = Rows / expertCount;
        if (y.Length % n != 0 || y.Length / n != indices.Length)
        {
            throw new ArgumentException(Text($"y must hold one row of {n} floats per index ({indices.Length}); it holds {y.Length}."), nameof(y));
        }
        if (x.Length % k != 0) throw new ArgumentException(Text($"x holds {x.Length} floats, not a whole number of rows of {k}."), nameof(x));
        int xRows = x.Length / k;
        if (!bias.IsEmpty && bias.Length != (long)expertCount * n) throw new ArgumentException(Text($"The bias must hold {expertCount} x {n} floats."), nameof(bias));
        if (indices.IsEmpty) return;
        if (xRows == 0 || (indices.Length % xRows != 0 && xRows != indices.Length))
        {
            throw new ArgumentException(Text($"x has {xRows} rows, which is neither one per token nor one per index ({indices.Length})."), nameof(x));
        }
        for (int i = 0; i < indices.Length; i++)
        {
            if ((uint)indices[i] >= (uint)expertCount)
            {
                throw new ArgumentOutOfRangeException(nameof(indices), Text($"indices[{i}] = {indices[i]} is not an expert id in [0, {expertCount})."));
            }
        }
        using var xs = Context.Upload(x);
        using var ids = Context.Upload(indices);
        using var ys = Context.Allocate((long)y.Length * sizeof(float));
        using var bs = bias.IsEmpty ? null : Context.Upload(bias);
        using (EnqueueGather(expertCount, xs, indices.Length / xRows, ids, indices.Length, ys, bs)) ys.Read(y);
    }

    /// <summary>
    /// Enqueues the gather on device buffers: <paramref name="pairs"/> expert ids in <paramref name="indices"/> (each checked by
    /// the caller to lie in [0, <paramref name="expertCount"/>)), pair p reading x row <c>p / pairsPerXRow</c>; y holds
    /// <c>[pairs, N]</c> floats, bias <c>[E, N]</c> or null.
    /// </summary>
    public OpenClEvent EnqueueGather(int expertCount, OpenClBuffer x, int pairsPerXRow, OpenClBuffer indices, int pairs, OpenClBuffer y, OpenClBuffer? bias = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pairs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pairsPerXRow);
        int n = Rows / expertCount;
        lock (_gate)
        {
            SetPlanes(_gather).Arg(4, n).Arg(5, Columns).Arg(6, RowsPerExpert).Arg(7, x).Arg(8, pairsPerXRow).Arg(9, indices).Arg(10, bias ?? _empty)
                .Arg(11, bias is null ? 0 : 1).Arg(12, y);
            return _gather.Enqueue([Groups(n, _rowsPerGroup) * DeviceKernels.WorkGroupSize, pairs], [DeviceKernels.WorkGroupSize, 1]);
        }
    }

    private OpenClKernel SetPlanes(OpenClKernel kernel) => kernel.Arg(0, _planes[0]).Arg(1, _planes[1]).Arg(2, _planes[2]).Arg(3, _planes[3]);

    private static long Groups(int count, int per) => (count + per - 1) / per;

    private void CheckLength(int length)
    {
        if (length != (long)Rows * Columns) throw new ArgumentException(Text($"The destination must hold {Rows} x {Columns} values; it holds {length}."), "destination");
    }

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        _gemv?.Dispose();
        _gemvStream?.Dispose();
        _gemm?.Dispose();
        _gather?.Dispose();
        _dequantizeF32?.Dispose();
        _dequantizeF16?.Dispose();
        foreach (var plane in _planes)
        {
            if (plane is not null && !ReferenceEquals(plane, _empty)) plane.Dispose();
        }
        _empty?.Dispose();
    }
}
