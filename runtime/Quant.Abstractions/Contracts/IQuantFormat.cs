using System;

namespace Quant;

/// <summary>
/// The contract the source generator implements for every declared format, on a nested
/// <c>readonly struct Format</c>. The generic kernels (GEMV, GEMM, MoE gather, quantize over threads)
/// take the format as a type argument constrained to this interface, so each format gets its own
/// specialised copy of every loop, with no virtual call and no reflection in the hot path.
/// </summary>
/// <remarks>
/// A row is <c>K</c> elements, <c>K</c> a multiple of <see cref="QuantFormatInfo.BlockSize"/>. Its
/// quantized form is one span per plane (<see cref="QuantRow"/>); plane <c>p</c> of a row holds
/// <c>K / BlockSize * Planes[p].BytesPerBlock</c> bytes.
/// </remarks>
/// <typeparam name="TSelf">The implementing struct.</typeparam>
public interface IQuantFormat<TSelf> where TSelf : struct, IQuantFormat<TSelf>
{
    /// <summary>The format's layout, identity and rules.</summary>
    static abstract QuantFormatInfo Info { get; }

    /// <summary>Quantizes one row of <c>K</c> floats into its planes.</summary>
    /// <param name="source">The row, <c>K</c> floats.</param>
    /// <param name="destination">The row's planes, each at least its row size.</param>
    /// <param name="options">Which rule, and an optional importance matrix row.</param>
    /// <exception cref="QuantFormatException">A length does not fit the format.</exception>
    static abstract void QuantizeRow(ReadOnlySpan<float> source, in QuantRowWriter destination, in QuantizeOptions options);

    /// <summary>
    /// Dequantizes <c>destination.Length / BlockSize</c> blocks of a row, starting at block
    /// <paramref name="firstBlock"/>, with the SIMD path of <paramref name="level"/>. Every level gives
    /// the same floats bit for bit.
    /// </summary>
    static abstract void DequantizeBlocks(in QuantRow source, int firstBlock, Span<float> destination, SimdLevel level);

    /// <summary>The dot product of a dequantized row with <paramref name="x"/> (<c>K</c> floats), fused: the row is never written out.</summary>
    static abstract float DotRow(in QuantRow row, ReadOnlySpan<float> x, SimdLevel level);

    /// <summary>
    /// Writes the planes that belong to the whole tensor (a per-tensor scale, such as NVFP4's
    /// <c>weight_scale_2</c>) from the whole matrix, before its rows are quantized. Formats without such
    /// planes do nothing, which is the default.
    /// </summary>
    /// <param name="weights">The whole matrix, <c>[Rows, Columns]</c> row-major.</param>
    /// <param name="matrix">The matrix being quantized; only its tensor planes are written.</param>
    static virtual void QuantizeTensorPlanes(ReadOnlySpan<float> weights, QuantMatrix matrix)
    {
    }

    /// <summary>
    /// The format's OpenCL C source: the dialect prelude, the layout macros and the per-chunk dequantize and
    /// dot functions that the shared kernel templates (GEMV, GEMM, MoE gather, dequantize) call. Null for a
    /// format the generator could not write device code for (its QG0023 warning says why), which is the default.
    /// </summary>
    static virtual string? OpenClSource => null;
}
