using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Kernels;
using Quant.Runtime.Tensors;
using Quant.Uqff;

namespace Quant.Runtime.Layers;

/// <summary>
/// A linear layer whose weight is in any registered block format (the catalogue's or one declared in the
/// user's own assembly): the generated kernels do the products, the generated layout the serialization.
/// The counterpart of mistralrs-quant's per-format layers (<c>GgufMatMul</c>, <c>AfqLayer</c>, <c>FP8Linear</c>, ...), as one type.
/// </summary>
public class QuantLinear : LinearLayer
{
    private readonly FormatKernels _kernels;

    /// <summary>Wraps a quantized weight (<c>[N, K]</c>, or stacked experts <c>[E * N, K]</c>) and an optional bias (<c>[N]</c> / <c>[E, N]</c>).</summary>
    public QuantLinear(QuantMatrix weight, HostTensor? bias = null)
        : base((weight ?? throw new ArgumentNullException(nameof(weight))).Columns, weight.Rows / weight.Experts, weight.Experts, bias?.ToFloat32Array())
    {
        Weight = weight;
        _kernels = FormatKernels.For(weight.Format.Name);
        if (!ReferenceEquals(_kernels.Info, weight.Format))
            throw new ArgumentException($"The weight's format '{weight.Format.Name}' is not the registered format of that name.", nameof(weight));
    }

    /// <summary>The quantized weight.</summary>
    public QuantMatrix Weight { get; }

    /// <inheritdoc />
    public override string Name => Weight.Format.Name;

    /// <inheritdoc />
    public override QuantFormatInfo? Format => Weight.Format;

    /// <inheritdoc />
    public override DType DType => DType.U8;

    /// <inheritdoc />
    public override bool IsSerializable => Weight.Format.Uqff != UqffLayer.None && (Experts == 1 || Weight.Format.Uqff == UqffLayer.Mxfp4);

    /// <inheritdoc />
    protected override void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias) => _kernels.MatMul(Weight, x, y, bias, Threads);

    /// <inheritdoc />
    protected override void Gather(ReadOnlySpan<float> x, int xSlots, ReadOnlySpan<int> ids, Span<float> y, ReadOnlySpan<float> bias)
        => _kernels.Gather(Weight, Experts, x, ids, y, bias, Threads);

    /// <inheritdoc />
    public override HostTensor DequantizeWeight()
    {
        var values = new float[(long)Weight.Rows * Weight.Columns];
        _kernels.Dequantize(Weight, values, Threads);
        return Experts == 1 ? HostTensor.FromArray(values, OutFeatures, InFeatures) : HostTensor.FromArray(values, Experts, OutFeatures, InFeatures);
    }

    /// <inheritdoc />
    public override IQuantMethod ApplyIsq(IsqRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Quantize(DequantizeWeight().AsSpan<float>(), Experts, OutFeatures, InFeatures, Bias, request);
    }

    /// <inheritdoc />
    public override IQuantMethod AddDeltaW(HostTensor delta)
    {
        var sum = DeltaValues(delta);
        var weights = DequantizeWeight().AsSpan<float>();
        for (int i = 0; i < sum.Length; i++) sum[i] += weights[i];
        return Quantize(sum, Experts, OutFeatures, InFeatures, Bias, new IsqRequest(Weight.Format.Name, Threads: Threads));
    }

    /// <inheritdoc />
    public override byte[] SerializeWithBias(HostTensor? bias)
    {
        if (Experts != 1 && Weight.Format.Uqff != UqffLayer.Mxfp4)
            throw new QuantFormatException($"Layer '{Name}': UQFF layer blobs of this type hold one [N, K] weight (only Mxfp4 holds stacked experts); this layer holds {Experts} experts.");
        if (Weight.Format.Uqff == UqffLayer.None)
            throw new QuantFormatException($"Format '{Weight.Format.Name}' has no UQFF 0.2.0 layer type (UQFF holds ggml types, mxfp4, fp8, f8q8, afq and hqq); write it as GGUF or safetensors instead.");
        return UqffCodec.WriteLayer(Weight, BiasOf(bias));
    }

    /// <summary>
    /// Quantizes float32 weights (<c>[E, N, K]</c> flattened) to <paramref name="request"/>'s format: each expert
    /// separately, so per-tensor scales stay per expert.
    /// </summary>
    /// <exception cref="QuantFormatException">The format is not registered, or <c>K</c> does not fit its blocks.</exception>
    public static QuantLinear Quantize(ReadOnlySpan<float> weights, int experts, int n, int k, HostTensor? bias, IsqRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var kernels = FormatKernels.For(request.Format);
        int rule = kernels.Info.FindRule(request.Rule);
        var importance = request.Importance.Span;
        if (!importance.IsEmpty && importance.Length != k && importance.Length != (long)experts * k)
            throw new ArgumentException($"The importance holds {importance.Length} values; it must hold K = {k} (or E x K = {(long)experts * k}).", nameof(request));
        long size = (long)n * k;
        if (experts == 1) return new QuantLinear(kernels.Quantize(weights, n, k, rule, importance, request.Threads), bias);
        var parts = new List<QuantMatrix>(experts);
        for (int e = 0; e < experts; e++)
        {
            var own = importance.Length == (long)experts * k ? importance.Slice(e * k, k) : importance;
            parts.Add(kernels.Quantize(weights.Slice((int)(e * size), (int)size), n, k, rule, own, request.Threads));
        }
        return new QuantLinear(QuantMatrix.Stack(parts), bias);
    }

    /// <summary>
    /// Whether <paramref name="format"/> quantizes each row on its own (every plane per block, no 2-D tiles, no per-tensor
    /// value), so a weight can be quantized a band of rows at a time with the same bytes as all at once.
    /// </summary>
    public static bool IsRowLocal(QuantFormatInfo format)
    {
        ArgumentNullException.ThrowIfNull(format);
        return format.TileRows <= 1 && format.Planes.All(p => p.Extent == PlaneExtent.Block);
    }

    /// <summary>
    /// <see cref="Quantize"/> for a weight stored as F16 or BF16 (<c>[N, K]</c> or <c>[E, N, K]</c>) in a row-local format
    /// (<see cref="IsRowLocal"/>): the rows are converted to float32 and quantized a band at a time (about 4 MiB of floats),
    /// so the weight never exists whole in float32. The bytes are those of converting it whole and calling <see cref="Quantize"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The format is not row-local, or the weight is not F16 / BF16.</exception>
    public static QuantLinear QuantizeInBands(HostTensor weight, int experts, int n, int k, HostTensor? bias, IsqRequest request)
        => QuantizeInBands(weight, experts, n, k, bias, request, 1 << 20);

    // bandElements: floats per band (tests make bands of a few rows).
    internal static QuantLinear QuantizeInBands(HostTensor weight, int experts, int n, int k, HostTensor? bias, IsqRequest request, int bandElements)
    {
        ArgumentNullException.ThrowIfNull(weight);
        ArgumentNullException.ThrowIfNull(request);
        var kernels = FormatKernels.For(request.Format);
        var info = kernels.Info;
        if (!IsRowLocal(info)) throw new ArgumentException($"Format '{info.Name}' has tiles or per-tensor values; quantize it whole.", nameof(request));
        if (weight.DType is not (DType.F16 or DType.BF16)) throw new ArgumentException($"Banded quantization converts F16 or BF16 weights; this one is {weight.DType}.", nameof(weight));
        int rule = info.FindRule(request.Rule);
        var importance = request.Importance.Span;
        if (!importance.IsEmpty && importance.Length != k && importance.Length != (long)experts * k)
            throw new ArgumentException($"The importance holds {importance.Length} values; it must hold K = {k} (or E x K = {(long)experts * k}).", nameof(request));
        long rows = (long)experts * n;
        var result = new QuantMatrix(info, checked((int)rows), k);
        int band = Math.Max(1, bandElements / k);
        var floats = new float[(long)Math.Min(band, rows) * k];
        var source = weight.Bytes;
        int size = weight.DType.Size();
        for (long row = 0; row < rows;)
        {
            int e = (int)(row / n);
            // A band never crosses from one expert into the next, whose importance may differ.
            int count = (int)Math.Min(band, (long)(e + 1) * n - row);
            var values = floats.AsSpan(0, count * k);
            HostTensor.ConvertToFloat32(weight.DType, source.Slice((int)(row * k * size), count * k * size), values);
            var own = importance.Length == (long)experts * k ? importance.Slice(e * k, k) : importance;
            var part = kernels.Quantize(values, count, k, rule, own, request.Threads);
            for (int p = 0; p < info.Planes.Count; p++)
            {
                long rowBytes = info.RowBytes(p, k);
                part.Plane(p).Span.CopyTo(result.Plane(p).Span.Slice((int)(row * rowBytes)));
            }
            row += count;
        }
        var matrix = experts == 1 ? result : new QuantMatrix(info, result.Rows, k, Enumerable.Range(0, info.Planes.Count).Select(p => result.Plane(p)).ToArray(), experts);
        return new QuantLinear(matrix, bias);
    }
}
