using System;
using System.Collections.Concurrent;

namespace Quant.Kernels;

/// <summary>
/// The drivers of one registered format behind virtual calls, for callers that pick a format at run
/// time (the CLI, layers, file loaders). Each call crosses one virtual call and then runs the generic,
/// format-specialised driver; the hot loops stay devirtualised.
/// </summary>
public abstract class FormatKernels
{
    private static readonly ConcurrentDictionary<Type, FormatKernels> s_cache = new();

    private protected FormatKernels() { }

    /// <summary>The format.</summary>
    public abstract QuantFormatInfo Info { get; }

    /// <summary>The drivers of <paramref name="entry"/>'s format.</summary>
    public static FormatKernels For(QuantFormatEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return s_cache.GetOrAdd(entry.FormatType, static (_, e) => e.Accept(Factory.Instance), entry);
    }

    /// <summary>The drivers of the registered format named <paramref name="name"/>.</summary>
    /// <exception cref="QuantFormatException">No format has that name.</exception>
    public static FormatKernels For(string name)
    {
        QuantCatalog.EnsureRegistered();
        return For(QuantFormatRegistry.Get(name));
    }

    /// <summary>See <see cref="QuantMatMul.MatMul{TFormat}"/>.</summary>
    public abstract void MatMul(QuantMatrix weight, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default, int threads = 0, SimdLevel? level = null);

    /// <summary>See <see cref="QuantMatMul.Gather{TFormat}"/>.</summary>
    public abstract void Gather(QuantMatrix experts, int expertCount, ReadOnlySpan<float> x, ReadOnlySpan<int> indices, Span<float> y, ReadOnlySpan<float> bias = default, int threads = 0, SimdLevel? level = null);

    /// <summary>See <see cref="QuantMatMul.Quantize{TFormat}"/>.</summary>
    public abstract QuantMatrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, int rule = -1, ReadOnlySpan<float> importance = default, int threads = 0);

    /// <summary>See <see cref="QuantMatMul.Dequantize{TFormat}(QuantMatrix, Span{float}, int, SimdLevel?, QuantThreadPool?)"/>.</summary>
    public abstract void Dequantize(QuantMatrix matrix, Span<float> destination, int threads = 0, SimdLevel? level = null);

    /// <summary>Dequantizes to binary16, rounding to nearest even.</summary>
    public abstract void Dequantize(QuantMatrix matrix, Span<Half> destination, int threads = 0, SimdLevel? level = null);

    /// <summary>Dequantizes to bfloat16, rounding to nearest even.</summary>
    public abstract void Dequantize(QuantMatrix matrix, Span<BFloat16> destination, int threads = 0, SimdLevel? level = null);

    private sealed class Factory : IQuantFormatVisitor<FormatKernels>
    {
        public static readonly Factory Instance = new();

        public FormatKernels Visit<TFormat>() where TFormat : struct, IQuantFormat<TFormat> => new FormatKernels<TFormat>();
    }
}

/// <summary>The drivers of format <typeparamref name="TFormat"/>.</summary>
public sealed class FormatKernels<TFormat> : FormatKernels where TFormat : struct, IQuantFormat<TFormat>
{
    /// <inheritdoc/>
    public override QuantFormatInfo Info => TFormat.Info;

    /// <inheritdoc/>
    public override void MatMul(QuantMatrix weight, ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias = default, int threads = 0, SimdLevel? level = null)
        => QuantMatMul.MatMul<TFormat>(weight, x, y, bias, threads, level);

    /// <inheritdoc/>
    public override void Gather(QuantMatrix experts, int expertCount, ReadOnlySpan<float> x, ReadOnlySpan<int> indices, Span<float> y, ReadOnlySpan<float> bias = default, int threads = 0, SimdLevel? level = null)
        => QuantMatMul.Gather<TFormat>(experts, expertCount, x, indices, y, bias, threads, level);

    /// <inheritdoc/>
    public override QuantMatrix Quantize(ReadOnlySpan<float> weights, int rows, int columns, int rule = -1, ReadOnlySpan<float> importance = default, int threads = 0)
        => QuantMatMul.Quantize<TFormat>(weights, rows, columns, rule, importance, threads);

    /// <inheritdoc/>
    public override void Dequantize(QuantMatrix matrix, Span<float> destination, int threads = 0, SimdLevel? level = null)
        => QuantMatMul.Dequantize<TFormat>(matrix, destination, threads, level);

    /// <inheritdoc/>
    public override void Dequantize(QuantMatrix matrix, Span<Half> destination, int threads = 0, SimdLevel? level = null)
        => QuantMatMul.Dequantize<TFormat>(matrix, destination, threads, level);

    /// <inheritdoc/>
    public override void Dequantize(QuantMatrix matrix, Span<BFloat16> destination, int threads = 0, SimdLevel? level = null)
        => QuantMatMul.Dequantize<TFormat>(matrix, destination, threads, level);
}
