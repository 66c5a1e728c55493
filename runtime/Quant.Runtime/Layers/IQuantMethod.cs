using System;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Layers;

/// <summary>
/// A linear layer <c>y = x W^T + b</c> over some weight representation: dense (<see cref="UnquantLinear"/>), any
/// registered block format (<see cref="QuantLinear"/>, <see cref="Mxfp4Layer"/>), tensor-parallel wrappers of
/// those, or a placeholder (<see cref="DummyLayer"/>). The counterpart of mistralrs-quant's <c>QuantMethod</c> and
/// <c>QuantizedSerde</c> traits. Layers are immutable except for activation statistics: operations that change
/// the weight (<see cref="ApplyIsq"/>, <see cref="AddDeltaW"/>) return a new layer.
/// </summary>
/// <remarks>
/// Shapes: a layer of <see cref="Experts"/> = 1 has a weight <c>[N, K]</c> (<c>N</c> = <see cref="OutFeatures"/>,
/// <c>K</c> = <see cref="InFeatures"/>); a layer of experts has <c>[E, N, K]</c> and is used through
/// <see cref="GatherForward"/>. Activations are float tensors (F32, F16 or BF16) whose last dimension is <c>K</c>;
/// outputs are F32.
/// </remarks>
public interface IQuantMethod
{
    /// <summary>What the layer is, for messages and the UQFF writer (<c>"unquant"</c>, a format name, <c>"mxfp4-layer"</c>, ...).</summary>
    string Name { get; }

    /// <summary>The block format of the weight, or null for a dense or placeholder layer.</summary>
    QuantFormatInfo? Format { get; }

    /// <summary>The dtype the weight is stored in (F32 / F16 / BF16 for dense layers; U8 for block formats).</summary>
    DType DType { get; }

    /// <summary>Where the layer computes.</summary>
    ComputeDevice Device { get; }

    /// <summary><c>K</c>, the input features.</summary>
    int InFeatures { get; }

    /// <summary><c>N</c>, the output features (per expert).</summary>
    int OutFeatures { get; }

    /// <summary>The number of experts (1 for a plain linear layer).</summary>
    int Experts { get; }

    /// <summary>Whether the layer adds a bias.</summary>
    bool HasBias { get; }

    /// <summary>How the layer is split across ranks, or null when it is not a distributed layer.</summary>
    DistributedKind? IsDistributed { get; }

    /// <summary>Whether <see cref="Serialize"/> can write this layer as a UQFF 0.2.0 layer blob.</summary>
    bool IsSerializable { get; }

    /// <summary><c>y = x W^T + b</c>: <c>x [..., K]</c> to <c>y [..., N]</c> (F32).</summary>
    /// <exception cref="ArgumentException">The last dimension of <paramref name="x"/> is not <c>K</c>, or the layer holds experts.</exception>
    HostTensor Forward(HostTensor x);

    /// <summary>
    /// The mixture-of-experts gather: <c>y[t, s] = x[t] W[idx[t, s]]^T + b[idx[t, s]]</c>; <paramref name="x"/> is
    /// <c>[T, K]</c> (shared by a token's slots) or <c>[T, S, K]</c>, <paramref name="indices"/> <c>[T, S]</c> (I32, U32 or I64);
    /// the result is <c>[T, S, N]</c> (F32).
    /// </summary>
    HostTensor GatherForward(HostTensor x, HostTensor indices);

    /// <summary>The weight as F32: <c>[N, K]</c>, or <c>[E, N, K]</c> for experts.</summary>
    HostTensor DequantizeWeight();

    /// <summary>The weight quantized to <paramref name="request"/>'s format (a quantized weight is dequantized first); the bias is kept.</summary>
    IQuantMethod ApplyIsq(IsqRequest request);

    /// <summary>A layer whose weight is <c>W + delta</c> (LoRA); <paramref name="delta"/> has the weight's shape. A quantized weight is requantized in its format.</summary>
    IQuantMethod AddDeltaW(HostTensor delta);

    /// <summary>The dense weight and bias of a dense layer; null for a quantized one.</summary>
    (HostTensor Weight, HostTensor? Bias)? UnquantWeightBias();

    /// <summary>Starts collecting the per-column mean squares of the activations this layer sees (the imatrix).</summary>
    void BeginTrackStats();

    /// <summary>Stops collecting and returns the mean of <c>x^2</c> per input column, <c>[K]</c> (or <c>[E, K]</c> for experts), F32.</summary>
    /// <exception cref="InvalidOperationException">Tracking was not begun.</exception>
    HostTensor EndTrackStats();

    /// <summary>The UQFF 0.2.0 layer blob of this layer (with its bias).</summary>
    /// <exception cref="QuantFormatException">The layer's format has no UQFF layer type.</exception>
    byte[] Serialize();

    /// <summary>The UQFF layer blob of this layer's weight with <paramref name="bias"/> in place of its own.</summary>
    byte[] SerializeWithBias(HostTensor? bias);
}

/// <summary>How a layer is split across ranks.</summary>
public enum DistributedKind
{
    /// <summary>Split along the input dimension; outputs are summed across ranks.</summary>
    RowParallel,
    /// <summary>Split along the output dimension.</summary>
    ColumnParallel,
    /// <summary>Whole on every rank.</summary>
    Replicated,
}

/// <summary>Where a layer computes.</summary>
public enum ComputeDevice
{
    /// <summary>The CPU, through the generated SIMD kernels.</summary>
    Cpu,
}

/// <summary>What to quantize a weight to.</summary>
/// <param name="Format">The registered format's name (<c>q4_K</c>, <c>mxfp4</c>, ...).</param>
/// <param name="Rule">The quantization rule's name, or null for the format's default.</param>
/// <param name="Importance">Per-column importance (the imatrix: mean squares of the activations), <c>K</c> floats, or empty.</param>
/// <param name="Threads">Worker threads; 0 for all.</param>
public sealed record IsqRequest(string Format, string? Rule = null, ReadOnlyMemory<float> Importance = default, int Threads = 0);
