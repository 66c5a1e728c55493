using System;
using System.Buffers;
using System.Globalization;
using Quant.Kernels;

namespace Quant.Runtime.Checkpoints;

/// <summary>
/// A linear layer <c>y = x W^T + b</c> straight from a GPTQ or AWQ checkpoint: the tensors are repacked once into a
/// <c>gptq{bits}_g{block}</c> matrix and every call runs the format's fused kernels on it; no float copy of the weight
/// is ever made. With act-order, activations are permuted into the weight's column order first (one gather per call).
/// </summary>
public sealed class GptqLinear
{
    private readonly float[]? _bias;
    private readonly FormatKernels _kernels;

    /// <summary>A layer over <paramref name="weight"/> with an optional bias.</summary>
    /// <param name="weight">W, <c>[N, K]</c>.</param>
    /// <param name="bias">The bias, <c>N</c> floats, or empty for none.</param>
    /// <exception cref="ArgumentException">The bias is neither empty nor <c>N</c> floats.</exception>
    public GptqLinear(GptqWeight weight, ReadOnlySpan<float> bias = default)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (!bias.IsEmpty && bias.Length != weight.OutFeatures)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"The bias must hold {weight.OutFeatures} floats; it holds {bias.Length}."), nameof(bias));
        }
        Weight = weight;
        _bias = bias.IsEmpty ? null : bias.ToArray();
        QuantCatalog.EnsureRegistered();
        _kernels = FormatKernels.For(QuantFormatRegistry.Get(weight.Matrix.Format.Name));
    }

    /// <summary>Reads a layer from its checkpoint tensors (see <see cref="GptqWeight.FromCheckpoint"/>), with the checkpoint's F16 <c>bias</c> if it has one.</summary>
    /// <exception cref="QuantFormatException">A tensor is wrong; the message names it. The bias is not <c>N</c> values.</exception>
    public static GptqLinear FromCheckpoint(GptqConfig config, GptqTensors tensors, CheckpointTensor<Half>? bias = null)
    {
        var weight = GptqWeight.FromCheckpoint(config, tensors);
        if (bias is null) return new GptqLinear(weight);
        bias.CheckShape("bias", weight.OutFeatures);
        var values = new float[weight.OutFeatures];
        var source = bias.Data.Span;
        for (int i = 0; i < values.Length; i++) values[i] = (float)source[i];
        return new GptqLinear(weight, values);
    }

    /// <summary>The weight.</summary>
    public GptqWeight Weight { get; }

    /// <summary>True when the layer adds a bias.</summary>
    public bool HasBias => _bias is not null;

    /// <summary>The bias (<c>N</c> floats), or empty.</summary>
    public ReadOnlySpan<float> Bias => _bias;

    /// <summary><c>y[b, n] = sum_k x[b, k] W[n, k] + bias[n]</c>.</summary>
    /// <param name="x">Activations, <c>[batch, K]</c>, in the input column order.</param>
    /// <param name="y">Outputs, <c>[batch, N]</c>.</param>
    /// <param name="threads">Worker threads; 0 for all.</param>
    /// <param name="level">The SIMD level; null for the best one here.</param>
    /// <exception cref="ArgumentException">A shape does not match.</exception>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int threads = 0, SimdLevel? level = null)
    {
        if (Weight.ColumnOrder is null)
        {
            _kernels.MatMul(Weight.Matrix, x, y, _bias, threads, level);
            return;
        }
        float[] permuted = ArrayPool<float>.Shared.Rent(x.Length);
        try
        {
            var sorted = permuted.AsSpan(0, x.Length);
            Weight.PermuteActivations(x, sorted);
            _kernels.MatMul(Weight.Matrix, sorted, y, _bias, threads, level);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(permuted);
        }
    }
}
