using System;
using System.Threading.Tasks;
using Quant.Runtime.Layers;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Isq;

/// <summary>
/// A layer being quantized by an <see cref="IsqScheduler"/>: its shape is known at once, and the first call that
/// needs the weight waits for the quantized layer and then forwards to it (an ISQ failure surfaces there, naming the layer).
/// </summary>
public sealed class PendingLayer : IQuantMethod
{
    private readonly Task<IQuantMethod> _result;

    // Only the dense layer's shape is kept: holding the layer would keep its weight alive after quantization.
    internal PendingLayer(string layerName, IQuantMethod dense, string format, Task<IQuantMethod> result)
    {
        LayerName = layerName;
        TargetFormat = format;
        InFeatures = dense.InFeatures;
        OutFeatures = dense.OutFeatures;
        Experts = dense.Experts;
        HasBias = dense.HasBias;
        _result = result;
    }

    /// <summary>The layer's name.</summary>
    public string LayerName { get; }

    /// <summary>The format the layer is being quantized to.</summary>
    public string TargetFormat { get; }

    /// <summary>Whether quantization has finished (successfully or not).</summary>
    public bool IsResolved => _result.IsCompleted;

    /// <summary>The task that completes with the quantized layer (or faults with the ISQ failure), for waits that can be cancelled.</summary>
    public Task<IQuantMethod> Completion => _result;

    /// <summary>The quantized layer, waiting for it if needed.</summary>
    /// <exception cref="InvalidOperationException">Quantizing the layer failed.</exception>
    public IQuantMethod Resolve() => _result.GetAwaiter().GetResult();

    /// <inheritdoc />
    public string Name => IsResolved ? Resolve().Name : TargetFormat;

    /// <inheritdoc />
    public QuantFormatInfo? Format => Resolve().Format;

    /// <inheritdoc />
    public DType DType => Resolve().DType;

    /// <inheritdoc />
    public ComputeDevice Device => ComputeDevice.Cpu;

    /// <inheritdoc />
    public int InFeatures { get; }

    /// <inheritdoc />
    public int OutFeatures { get; }

    /// <inheritdoc />
    public int Experts { get; }

    /// <inheritdoc />
    public bool HasBias { get; }

    /// <inheritdoc />
    public DistributedKind? IsDistributed => null;

    /// <inheritdoc />
    public bool IsSerializable => Resolve().IsSerializable;

    /// <inheritdoc />
    public HostTensor Forward(HostTensor x) => Resolve().Forward(x);

    /// <inheritdoc />
    public HostTensor GatherForward(HostTensor x, HostTensor indices) => Resolve().GatherForward(x, indices);

    /// <inheritdoc />
    public HostTensor DequantizeWeight() => Resolve().DequantizeWeight();

    /// <inheritdoc />
    public IQuantMethod ApplyIsq(IsqRequest request) => Resolve().ApplyIsq(request);

    /// <inheritdoc />
    public IQuantMethod AddDeltaW(HostTensor delta) => Resolve().AddDeltaW(delta);

    /// <inheritdoc />
    public (HostTensor Weight, HostTensor? Bias)? UnquantWeightBias() => Resolve().UnquantWeightBias();

    /// <inheritdoc />
    public void BeginTrackStats() => Resolve().BeginTrackStats();

    /// <inheritdoc />
    public HostTensor EndTrackStats() => Resolve().EndTrackStats();

    /// <inheritdoc />
    public byte[] Serialize() => Resolve().Serialize();

    /// <inheritdoc />
    public byte[] SerializeWithBias(HostTensor? bias) => Resolve().SerializeWithBias(bias);
}
