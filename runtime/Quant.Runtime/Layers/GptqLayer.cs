using System;
using System.Buffers;
using Quant.Kernels;
using Quant.Runtime.Checkpoints;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Layers;

/// <summary>
/// A GPTQ or AWQ checkpoint layer (mistralrs-quant's <c>GptqLayer</c>): the checkpoint repacked into a <c>gptq*</c>
/// format; with act-order, activations are permuted into the sorted column order before the fused product.
/// </summary>
public sealed class GptqLayer : LinearLayer
{
    private readonly FormatKernels _kernels;

    /// <summary>Wraps a repacked checkpoint weight and an optional bias <c>[N]</c>.</summary>
    public GptqLayer(GptqWeight weight, HostTensor? bias = null)
        : base((weight ?? throw new ArgumentNullException(nameof(weight))).InFeatures, weight.OutFeatures, 1, bias?.ToFloat32Array())
    {
        Weight = weight;
        _kernels = FormatKernels.For(weight.Matrix.Format.Name);
    }

    /// <summary>The repacked weight.</summary>
    public GptqWeight Weight { get; }

    /// <inheritdoc />
    public override string Name => Weight.Matrix.Format.Name;

    /// <inheritdoc />
    public override QuantFormatInfo? Format => Weight.Matrix.Format;

    /// <inheritdoc />
    public override DType DType => DType.U8;

    /// <inheritdoc />
    public override bool IsSerializable => false;

    /// <inheritdoc />
    protected override void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias)
    {
        if (Weight.ColumnOrder is null)
        {
            _kernels.MatMul(Weight.Matrix, x, y, bias, Threads);
            return;
        }
        float[] rented = ArrayPool<float>.Shared.Rent(x.Length);
        try
        {
            var sorted = rented.AsSpan(0, x.Length);
            Weight.PermuteActivations(x, sorted);
            _kernels.MatMul(Weight.Matrix, sorted, y, bias, Threads);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <inheritdoc />
    protected override void Gather(ReadOnlySpan<float> x, int xSlots, ReadOnlySpan<int> ids, Span<float> y, ReadOnlySpan<float> bias) =>
        throw new InvalidOperationException("A GPTQ layer holds one weight, not experts.");

    /// <inheritdoc />
    public override HostTensor DequantizeWeight()
    {
        var values = new float[(long)OutFeatures * InFeatures];
        Weight.Dequantize(values, Threads);
        return HostTensor.FromArray(values, OutFeatures, InFeatures);
    }

    /// <inheritdoc />
    public override IQuantMethod ApplyIsq(IsqRequest request) =>
        QuantLinear.Quantize(DequantizeWeight().AsSpan<float>(), 1, OutFeatures, InFeatures, Bias, request);

    /// <inheritdoc />
    public override IQuantMethod AddDeltaW(HostTensor delta)
    {
        var sum = DeltaValues(delta);
        var weights = DequantizeWeight().AsSpan<float>();
        for (int i = 0; i < sum.Length; i++) sum[i] += weights[i];
        var requantized = QuantLinear.Quantize(sum, 1, OutFeatures, InFeatures, null, new IsqRequest(Weight.Matrix.Format.Name, Threads: Threads));
        return new GptqLayer(new GptqWeight(requantized.Weight), Bias) { Threads = Threads };
    }

    /// <inheritdoc />
    public override byte[] SerializeWithBias(HostTensor? bias) =>
        throw new QuantFormatException($"UQFF 0.2.0 has no layer type for GPTQ / AWQ weights ('{Name}'); quantize the layer to another format (ISQ) to write it.");
}
