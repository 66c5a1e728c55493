using System;
using System.Collections.Generic;
using System.Globalization;

namespace Quant.Runtime.Checkpoints;

/// <summary>
/// One tensor of a checkpoint as a reader hands it over: its elements in row-major order and its shape, as the
/// file states them. Nothing is checked here; the code that knows what the tensor must be checks it and names it.
/// </summary>
/// <typeparam name="T">The element type (<see cref="int"/> for packed codes and <c>g_idx</c>, <see cref="Half"/> for scales).</typeparam>
public sealed class CheckpointTensor<T> where T : unmanaged
{
    private readonly int[] _shape;

    /// <summary>Wraps <paramref name="data"/> with the shape <paramref name="shape"/> (dims slowest first, as safetensors writes them).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="shape"/> is null.</exception>
    public CheckpointTensor(ReadOnlyMemory<T> data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        Data = data;
        _shape = (int[])shape.Clone();
    }

    /// <summary>The elements, row-major.</summary>
    public ReadOnlyMemory<T> Data { get; }

    /// <summary>The dims, slowest first.</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>The shape as <c>[a, b]</c>, for messages.</summary>
    public string ShapeText => "[" + string.Join(", ", Array.ConvertAll(_shape, d => d.ToString(CultureInfo.InvariantCulture))) + "]";

    /// <summary>
    /// Checks that the tensor has exactly the shape <paramref name="expected"/> and holds that many elements.
    /// </summary>
    /// <param name="name">The tensor's name in the checkpoint, for the message.</param>
    /// <param name="expected">The expected dims.</param>
    /// <exception cref="QuantFormatException">The shape or the element count differs; the message names the tensor.</exception>
    public void CheckShape(string name, params long[] expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        bool same = _shape.Length == expected.Length;
        for (int i = 0; same && i < expected.Length; i++) same = _shape[i] == expected[i];
        if (!same)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"Tensor '{name}' has shape {ShapeText}; expected [{string.Join(", ", expected)}]."));
        }
        long count = 1;
        foreach (long d in expected) count *= d;
        if (Data.Length != count)
        {
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"Tensor '{name}' of shape {ShapeText} must hold {count} elements; it holds {Data.Length}."));
        }
    }
}

/// <summary>
/// The tensors of one GPTQ or AWQ linear layer, in the checkpoint's own layout (the prefix, such as
/// <c>model.layers.0.mlp.down_proj.</c>, is the reader's business).
/// </summary>
/// <param name="QWeight">
/// <c>qweight</c>, int32. GPTQ: <c>[K * bits / 32, N]</c>, each output column's <c>K</c> codes an LSB-first bit stream down
/// the column. AWQ: <c>[K, N / 8]</c>, eight output columns per word in the nibble order 0, 2, 4, 6, 1, 3, 5, 7.
/// </param>
/// <param name="QZeros">
/// <c>qzeros</c>, int32. GPTQ: <c>[ceil(K / G), N * bits / 32]</c>, each group's <c>N</c> zero points an LSB-first bit stream
/// along the row. AWQ: <c>[K / G, N / 8]</c>, packed as <c>qweight</c>.
/// </param>
/// <param name="Scales"><c>scales</c>, F16, <c>[ceil(K / G), N]</c>.</param>
/// <param name="GIdx"><c>g_idx</c>, int32 <c>[K]</c>: the group of each input column (not trivial with act-order), or null when the checkpoint has none.</param>
public sealed record GptqTensors(
    CheckpointTensor<int> QWeight,
    CheckpointTensor<int> QZeros,
    CheckpointTensor<Half> Scales,
    CheckpointTensor<int>? GIdx = null);
