using System;
using System.Runtime.InteropServices;
using Quant.Kernels;
using Quant.Runtime.Tensors;
using Quant.Uqff;

namespace Quant.Runtime.Layers;

/// <summary>
/// A dense linear layer: the weight kept in its dtype (F32, F16 or BF16, <c>[N, K]</c> or experts <c>[E, N, K]</c>).
/// F16 and BF16 weights multiply through the generated <c>f16</c> / <c>bf16</c> kernels without a copy; F32 through
/// a float32 dot product. mistralrs-quant's <c>UnquantLinear</c>.
/// </summary>
public sealed class UnquantLinear : LinearLayer
{
    private readonly HostTensor _weight;
    private readonly QuantMatrix? _halfMatrix;
    private readonly FormatKernels? _halfKernels;

    /// <summary>Wraps <paramref name="weight"/> (<c>[N, K]</c> or <c>[E, N, K]</c>, F32 / F16 / BF16) and an optional bias (<c>[N]</c> or <c>[E, N]</c>).</summary>
    /// <exception cref="ArgumentException">The weight is not a 2-D or 3-D float tensor of those dtypes.</exception>
    public UnquantLinear(HostTensor weight, HostTensor? bias = null)
        : base(CheckWeight(weight).Dim(-1), weight.Dim(-2), weight.Rank == 3 ? weight.Dim(0) : 1, bias?.ToFloat32Array())
    {
        _weight = weight;
        if (weight.DType is DType.F16 or DType.BF16)
        {
            _halfKernels = FormatKernels.For(weight.DType == DType.F16 ? "f16" : "bf16");
            var bytes = MemoryMarshal.AsMemory(weight.Memory);
            _halfMatrix = new QuantMatrix(_halfKernels.Info, Experts * OutFeatures, InFeatures, [bytes], Experts);
        }
    }

    /// <summary>The weight as stored.</summary>
    public HostTensor Weight => _weight;

    /// <inheritdoc />
    public override string Name => "unquant";

    /// <inheritdoc />
    public override QuantFormatInfo? Format => null;

    /// <inheritdoc />
    public override DType DType => _weight.DType;

    /// <inheritdoc />
    public override bool IsSerializable => Experts == 1;

    /// <inheritdoc />
    protected override void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias)
    {
        if (_halfMatrix is not null) _halfKernels!.MatMul(_halfMatrix, x, y, bias, Threads);
        else DenseKernels.MatMul(_weight.AsSpan<float>(), OutFeatures, InFeatures, x, y, bias, Threads);
    }

    /// <inheritdoc />
    protected override void Gather(ReadOnlySpan<float> x, int xSlots, ReadOnlySpan<int> ids, Span<float> y, ReadOnlySpan<float> bias)
    {
        if (_halfMatrix is not null) _halfKernels!.Gather(_halfMatrix, Experts, x, ids, y, bias, Threads);
        else DenseKernels.Gather(_weight.AsSpan<float>(), Experts, OutFeatures, InFeatures, x, xSlots, ids, y, bias, Threads);
    }

    /// <inheritdoc />
    public override HostTensor DequantizeWeight() => _weight.ToDType(DType.F32) is var f && ReferenceEquals(f, _weight) ? _weight.Clone() : f;

    /// <inheritdoc />
    public override IQuantMethod ApplyIsq(IsqRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        // A half-precision weight in a row-local format is converted a band of rows at a time: a whole float32 copy
        // would double (for BF16, triple) the memory a layer takes while it is quantized.
        if (_weight.DType is DType.F16 or DType.BF16 && QuantLinear.IsRowLocal(FormatKernels.For(request.Format).Info))
            return QuantLinear.QuantizeInBands(_weight, Experts, OutFeatures, InFeatures, Bias, request);
        var weights = _weight.DType == DType.F32 ? _weight.AsSpan<float>() : _weight.ToFloat32Array();
        return QuantLinear.Quantize(weights, Experts, OutFeatures, InFeatures, Bias, request);
    }

    /// <inheritdoc />
    public override IQuantMethod AddDeltaW(HostTensor delta)
    {
        var sum = DeltaValues(delta);
        var weights = _weight.DType == DType.F32 ? _weight.AsSpan<float>() : _weight.ToFloat32Array();
        for (int i = 0; i < sum.Length; i++) sum[i] += weights[i];
        return new UnquantLinear(HostTensor.FromArray(sum, _weight.Dims()).ToDType(_weight.DType), Bias) { Threads = Threads };
    }

    /// <inheritdoc />
    public override (HostTensor Weight, HostTensor? Bias)? UnquantWeightBias() => (_weight, Bias);

    /// <inheritdoc />
    public override byte[] SerializeWithBias(HostTensor? bias)
    {
        if (Experts != 1) throw new QuantFormatException($"UQFF Unquant layers hold one [N, K] weight; this layer holds {Experts} experts.");
        var code = _weight.DType switch { DType.F16 => UqffDType.F16, DType.BF16 => UqffDType.BF16, _ => UqffDType.F32 };
        var weights = _weight.DType == DType.F32 ? _weight.AsSpan<float>() : _weight.ToFloat32Array();
        return UqffCodec.WriteUnquant(weights, OutFeatures, InFeatures, code, BiasOf(bias), UqffDType.F32);
    }

    private static HostTensor CheckWeight(HostTensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Rank is not (2 or 3) || weight.DType is not (DType.F32 or DType.F16 or DType.BF16))
            throw new ArgumentException($"A dense weight is F32, F16 or BF16 [N, K] or [E, N, K]; got {weight}.", nameof(weight));
        return weight;
    }
}
