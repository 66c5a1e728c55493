using System;
using Quant.Kernels;
using Quant.Runtime.OpenCl;

namespace Quant.Runtime;

/// <summary>Where a quantized weight's kernels run.</summary>
public enum Backend
{
    /// <summary>The generated SIMD kernels, multithreaded over rows.</summary>
    Cpu,
    /// <summary>The generated OpenCL C kernels, on an OpenCL device (a GPU, or the CPU through PoCL).</summary>
    OpenCl,
}

/// <summary>
/// A quantized weight matrix <c>W [N, K]</c> resident on a backend: its planes are placed there once (uploaded, for a
/// device), then every dequantize, GEMV / GEMM <c>y = x W^T + b</c> and MoE gather runs there. Inputs and outputs of
/// these methods are host memory; <see cref="OpenClQuantMatrix"/> also takes device buffers. Results agree with the
/// CPU's: dequantization bit for bit, products within float32 rounding.
/// </summary>
public abstract class DeviceQuantMatrix : IDisposable
{
    private protected DeviceQuantMatrix(QuantMatrix matrix)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        Matrix = matrix;
    }

    /// <summary>Places <paramref name="matrix"/> on <paramref name="backend"/>.</summary>
    /// <param name="matrix">The weight, <c>[N, K]</c> (or stacked experts, <c>[E * N, K]</c>).</param>
    /// <param name="backend">Where its kernels run.</param>
    /// <param name="device">For OpenCL: a device index or part of its name (see <see cref="OpenClDevice.Select"/>); null picks the default.</param>
    /// <exception cref="NotSupportedException">The format has no kernels for the backend.</exception>
    /// <exception cref="OpenClException">An OpenCL call fails (no platform, a failed build, too little memory).</exception>
    public static DeviceQuantMatrix Create(QuantMatrix matrix, Backend backend, string? device = null) => backend switch
    {
        Backend.Cpu => new CpuQuantMatrix(matrix),
        Backend.OpenCl => new OpenClQuantMatrix(OpenClContext.Shared(device), matrix),
        _ => throw new ArgumentOutOfRangeException(nameof(backend)),
    };

    /// <summary>The host matrix this one was made from.</summary>
    public QuantMatrix Matrix { get; }

    /// <summary>The format.</summary>
    public QuantFormatInfo Format => Matrix.Format;

    /// <summary>Rows (<c>N</c>, or <c>E * N</c> for stacked experts).</summary>
    public int Rows => Matrix.Rows;

    /// <summary>Columns (<c>K</c>).</summary>
    public int Columns => Matrix.Columns;

    /// <summary>The backend.</summary>
    public abstract Backend Backend { get; }

    /// <summary>Dequantizes the whole matrix into <paramref name="destination"/>, <c>[Rows, Columns]</c> floats.</summary>
    /// <exception cref="ArgumentException">The destination has the wrong length.</exception>
    public abstract void Dequantize(Span<float> destination);

    /// <summary>Dequantizes to binary16, each float32 value rounded to nearest even.</summary>
    /// <exception cref="ArgumentException">The destination has the wrong length.</exception>
    public abstract void Dequantize(Span<Half> destination);

    /// <summary><c>y[b, n] = sum_k x[b, k] W[n, k] + bias[n]</c>: GEMV for one activation row, GEMM for a batch.</summary>
    /// <param name="x">Activations, <c>[batch, K]</c>.</param>
    /// <param name="y">Outputs, <c>[batch, N]</c>.</param>
    /// <param name="bias">Bias, <c>N</c> floats, or empty.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public abstract void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default);

    /// <summary>
    /// The mixture-of-experts gather over stacked experts: <c>y[p] = x[p or its token] W_e^T + bias[e]</c> with
    /// <c>e = indices[p]</c> (see <see cref="QuantMatMul.Gather{TFormat}"/> for the shapes).
    /// </summary>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is not an expert id.</exception>
    public abstract void Gather(int expertCount, ReadOnlySpan<float> x, ReadOnlySpan<int> indices, Span<float> y, ReadOnlySpan<float> bias = default);

    /// <summary>Releases what the backend holds (device memory).</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases resources.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }
}

/// <summary>The CPU backend: the host matrix and the generated SIMD kernels (<see cref="FormatKernels"/>).</summary>
public sealed class CpuQuantMatrix : DeviceQuantMatrix
{
    private readonly FormatKernels _kernels;

    /// <summary>Wraps <paramref name="matrix"/>; nothing is copied.</summary>
    public CpuQuantMatrix(QuantMatrix matrix) : base(matrix)
    {
        QuantCatalog.EnsureRegistered();
        _kernels = FormatKernels.For(QuantFormatRegistry.Get(matrix.Format.Name));
    }

    /// <inheritdoc/>
    public override Backend Backend => Backend.Cpu;

    /// <summary>Worker threads for each call; 0 uses every thread of the pool.</summary>
    public int Threads { get; init; }

    /// <inheritdoc/>
    public override void Dequantize(Span<float> destination) => _kernels.Dequantize(Matrix, destination, Threads);

    /// <inheritdoc/>
    public override void Dequantize(Span<Half> destination) => _kernels.Dequantize(Matrix, destination, Threads);

    /// <inheritdoc/>
    public override void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default) => _kernels.MatMul(Matrix, x, y, bias, Threads);

    /// <inheritdoc/>
    public override void Gather(int expertCount, ReadOnlySpan<float> x, ReadOnlySpan<int> indices, Span<float> y, ReadOnlySpan<float> bias = default)
        => _kernels.Gather(Matrix, expertCount, x, indices, y, bias, Threads);
}
