using System;
using System.Globalization;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Layers;

/// <summary>
/// What every weight-holding layer shares: the activation handling of <see cref="Forward"/> and
/// <see cref="GatherForward"/> (any float dtype in, F32 out, leading dimensions kept), the bias, and the
/// activation statistics of the imatrix. Subclasses supply the two products on float32 rows.
/// </summary>
public abstract class LinearLayer : IQuantMethod
{
    private readonly object _statsGate = new();
    private ActivationStats? _stats;

    /// <summary>Sets the shape and the bias (<c>[N]</c>, or <c>[E, N]</c> for experts; null for none).</summary>
    protected LinearLayer(int inFeatures, int outFeatures, int experts, float[]? bias)
    {
        if (inFeatures <= 0 || outFeatures < 0 || experts < 1) throw new ArgumentOutOfRangeException(nameof(inFeatures), $"A layer of {experts} x [{outFeatures}, {inFeatures}] is not valid.");
        if (bias is not null && bias.Length != (long)outFeatures * experts)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"The bias holds {bias.Length} values; a layer of {experts} x {outFeatures} outputs needs {(long)outFeatures * experts}."));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Experts = experts;
        BiasValues = bias;
    }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public abstract QuantFormatInfo? Format { get; }

    /// <inheritdoc />
    public abstract DType DType { get; }

    /// <inheritdoc />
    public ComputeDevice Device => ComputeDevice.Cpu;

    /// <inheritdoc />
    public int InFeatures { get; }

    /// <inheritdoc />
    public int OutFeatures { get; }

    /// <inheritdoc />
    public int Experts { get; }

    /// <inheritdoc />
    public bool HasBias => BiasValues is not null;

    /// <inheritdoc />
    public DistributedKind? IsDistributed => null;

    /// <inheritdoc />
    public abstract bool IsSerializable { get; }

    /// <summary>The bias values (<c>[N]</c> or <c>[E, N]</c>), or null.</summary>
    protected float[]? BiasValues { get; }

    /// <summary>The bias as a tensor, or null.</summary>
    public HostTensor? Bias => BiasValues is null ? null : Experts == 1 ? HostTensor.FromFloats(BiasValues, OutFeatures) : HostTensor.FromFloats(BiasValues, Experts, OutFeatures);

    /// <summary>Worker threads for the products (0: every thread of the pool).</summary>
    public int Threads { get; init; }

    /// <inheritdoc />
    public HostTensor Forward(HostTensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (Experts != 1) throw new ArgumentException($"Layer '{Name}' holds {Experts} experts; call GatherForward.", nameof(x));
        var values = Activations(x, out int rows);
        var shape = x.Dims();
        shape[^1] = OutFeatures;
        var y = new float[(long)rows * OutFeatures];
        TrackRows(values, 0);
        MatMul(values, y, BiasValues);
        return HostTensor.FromArray(y, shape);
    }

    /// <inheritdoc />
    public HostTensor GatherForward(HostTensor x, HostTensor indices)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Rank != 2) throw new ArgumentException($"Expert indices must be [T, S]; got {indices}.", nameof(indices));
        int tokens = indices.Dim(0), slots = indices.Dim(1);
        var values = Activations(x, out int rows);
        int xSlots = x.Rank == 3 ? x.Dim(1) : 1;
        if (rows != (long)tokens * xSlots || (x.Rank == 3 && xSlots != slots) || x.Rank is not (2 or 3))
            throw new ArgumentException($"x must be [{tokens}, {InFeatures}] or [{tokens}, {slots}, {InFeatures}] for indices {indices}; got {x}.", nameof(x));
        var ids = ExpertIds(indices);
        var y = new float[(long)tokens * slots * OutFeatures];
        if (_stats is not null)
        {
            for (int t = 0; t < tokens; t++)
                for (int s = 0; s < slots; s++)
                    TrackRow(values.Slice((t * xSlots + (xSlots == 1 ? 0 : s)) * InFeatures, InFeatures), ids[t * slots + s]);
        }
        Gather(values, xSlots, ids, y, BiasValues);
        return HostTensor.FromArray(y, tokens, slots, OutFeatures);
    }

    /// <summary><c>y [B, N] = x [B, K] W^T + bias</c> (experts = 1).</summary>
    protected abstract void MatMul(ReadOnlySpan<float> x, Span<float> y, ReadOnlySpan<float> bias);

    /// <summary>The gather on float rows: <c>x [T, xSlots, K]</c>, <c>ids [T, S]</c>, <c>y [T, S, N]</c>, bias <c>[E, N]</c> or empty.</summary>
    protected abstract void Gather(ReadOnlySpan<float> x, int xSlots, ReadOnlySpan<int> ids, Span<float> y, ReadOnlySpan<float> bias);

    /// <inheritdoc />
    public abstract HostTensor DequantizeWeight();

    /// <inheritdoc />
    public abstract IQuantMethod ApplyIsq(IsqRequest request);

    /// <inheritdoc />
    public abstract IQuantMethod AddDeltaW(HostTensor delta);

    /// <inheritdoc />
    public virtual (HostTensor Weight, HostTensor? Bias)? UnquantWeightBias() => null;

    /// <inheritdoc />
    public void BeginTrackStats()
    {
        lock (_statsGate) _stats = new ActivationStats(Experts, InFeatures);
    }

    /// <inheritdoc />
    public HostTensor EndTrackStats()
    {
        lock (_statsGate)
        {
            var stats = _stats ?? throw new InvalidOperationException($"Layer '{Name}': EndTrackStats without BeginTrackStats.");
            _stats = null;
            var means = stats.MeanSquares();
            return Experts == 1 ? HostTensor.FromArray(means, InFeatures) : HostTensor.FromArray(means, Experts, InFeatures);
        }
    }

    /// <inheritdoc />
    public byte[] Serialize() => SerializeWithBias(Bias);

    /// <inheritdoc />
    public abstract byte[] SerializeWithBias(HostTensor? bias);

    /// <summary>Checks that <paramref name="delta"/> has the weight's shape and returns it as float32.</summary>
    protected float[] DeltaValues(HostTensor delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        long expected = (long)Experts * OutFeatures * InFeatures;
        if (delta.ElementCount != expected || delta.Dim(-1) != InFeatures)
            throw new ArgumentException($"Layer '{Name}': a delta for a {(Experts > 1 ? Experts + " x " : "")}[{OutFeatures}, {InFeatures}] weight cannot be {delta}.", nameof(delta));
        return delta.ToFloat32Array();
    }

    /// <summary>The bias of <paramref name="bias"/> as floats, checked against the layer's outputs.</summary>
    protected float[]? BiasOf(HostTensor? bias)
    {
        if (bias is null) return null;
        if (bias.ElementCount != (long)OutFeatures * Experts)
            throw new ArgumentException($"Layer '{Name}': a bias for {Experts} x {OutFeatures} outputs cannot be {bias}.", nameof(bias));
        return bias.ToFloat32Array();
    }

    private ReadOnlySpan<float> Activations(HostTensor x, out int rows)
    {
        if (x.Rank == 0 || x.Dim(-1) != InFeatures)
            throw new ArgumentException($"Layer '{Name}' takes activations [..., {InFeatures}]; got {x}.", nameof(x));
        if (!x.DType.IsFloat()) throw new ArgumentException($"Layer '{Name}' takes float activations; got {x}.", nameof(x));
        rows = checked((int)(x.ElementCount / InFeatures));
        return x.DType == DType.F32 ? x.AsSpan<float>() : x.ToFloat32Array();
    }

    private static int[] ExpertIds(HostTensor indices)
    {
        var ids = new int[indices.ElementCount];
        switch (indices.DType)
        {
            case DType.I32: indices.AsSpan<int>().CopyTo(ids); break;
            case DType.U32:
            {
                var u = indices.AsSpan<uint>();
                for (int i = 0; i < ids.Length; i++) ids[i] = u[i] > int.MaxValue ? -1 : (int)u[i];
                break;
            }
            case DType.I64:
            {
                var l = indices.AsSpan<long>();
                for (int i = 0; i < ids.Length; i++) ids[i] = l[i] is < 0 or > int.MaxValue ? -1 : (int)l[i];
                break;
            }
            default: throw new ArgumentException($"Expert indices must be I32, U32 or I64; got {indices.DType}.", nameof(indices));
        }
        return ids;
    }

    private void TrackRows(ReadOnlySpan<float> values, int expert)
    {
        if (_stats is null) return;
        for (int r = 0; r < values.Length / InFeatures; r++) TrackRow(values.Slice(r * InFeatures, InFeatures), expert);
    }

    private void TrackRow(ReadOnlySpan<float> row, int expert)
    {
        lock (_statsGate)
        {
            if ((uint)expert < (uint)Experts) _stats?.Add(row, expert);
        }
    }
}

/// <summary>Sums of squares of activations per expert and column, and the rows seen per expert.</summary>
internal sealed class ActivationStats(int experts, int columns)
{
    private readonly double[] _sums = new double[(long)experts * columns];
    private readonly long[] _counts = new long[experts];

    public void Add(ReadOnlySpan<float> row, int expert)
    {
        var sums = _sums.AsSpan(expert * columns, columns);
        for (int i = 0; i < columns; i++) sums[i] += (double)row[i] * row[i];
        _counts[expert]++;
    }

    public float[] MeanSquares()
    {
        var means = new float[_sums.Length];
        for (int e = 0; e < experts; e++)
        {
            long n = _counts[e];
            for (int i = 0; i < columns; i++) means[e * columns + i] = n == 0 ? 0f : (float)(_sums[e * columns + i] / n);
        }
        return means;
    }
}
