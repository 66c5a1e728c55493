using System;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Layers;

/// <summary>
/// A placeholder for a layer whose weights are not loaded yet (mistralrs-quant's <c>DummyLayer</c>): a model
/// built before its UQFF file is read has these where the file will put real layers. Every call fails with
/// a message that names the layer, so a layer the file did not fill is found at once.
/// </summary>
public sealed class DummyLayer(string layerName, int inFeatures = 0, int outFeatures = 0) : IQuantMethod
{
    /// <summary>The full name of the layer this placeholder stands for.</summary>
    public string LayerName { get; } = layerName ?? throw new ArgumentNullException(nameof(layerName));

    /// <inheritdoc />
    public string Name => "dummy";

    /// <inheritdoc />
    public QuantFormatInfo? Format => null;

    /// <inheritdoc />
    public DType DType => DType.F32;

    /// <inheritdoc />
    public ComputeDevice Device => ComputeDevice.Cpu;

    /// <inheritdoc />
    public int InFeatures { get; } = inFeatures;

    /// <inheritdoc />
    public int OutFeatures { get; } = outFeatures;

    /// <inheritdoc />
    public int Experts => 1;

    /// <inheritdoc />
    public bool HasBias => false;

    /// <inheritdoc />
    public DistributedKind? IsDistributed => null;

    /// <inheritdoc />
    public bool IsSerializable => false;

    /// <inheritdoc />
    public HostTensor Forward(HostTensor x) => throw NotLoaded(nameof(Forward));

    /// <inheritdoc />
    public HostTensor GatherForward(HostTensor x, HostTensor indices) => throw NotLoaded(nameof(GatherForward));

    /// <inheritdoc />
    public HostTensor DequantizeWeight() => throw NotLoaded(nameof(DequantizeWeight));

    /// <inheritdoc />
    public IQuantMethod ApplyIsq(IsqRequest request) => throw NotLoaded(nameof(ApplyIsq));

    /// <inheritdoc />
    public IQuantMethod AddDeltaW(HostTensor delta) => throw NotLoaded(nameof(AddDeltaW));

    /// <inheritdoc />
    public (HostTensor Weight, HostTensor? Bias)? UnquantWeightBias() => throw NotLoaded(nameof(UnquantWeightBias));

    /// <inheritdoc />
    public void BeginTrackStats() => throw NotLoaded(nameof(BeginTrackStats));

    /// <inheritdoc />
    public HostTensor EndTrackStats() => throw NotLoaded(nameof(EndTrackStats));

    /// <inheritdoc />
    public byte[] Serialize() => throw NotLoaded(nameof(Serialize));

    /// <inheritdoc />
    public byte[] SerializeWithBias(HostTensor? bias) => throw NotLoaded(nameof(SerializeWithBias));

    private InvalidOperationException NotLoaded(string call) =>
        new($"Layer '{LayerName}' is a placeholder: its weights were not loaded (no tensor '{LayerName}.weight' in the checkpoint and no layer for it in the UQFF file), so {call} cannot run.");
}
