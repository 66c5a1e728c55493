using System;
using System.Collections.Generic;
using System.Linq;

namespace Quant;

/// <summary>Receives a registered format as a type argument, so that code outside the format's assembly can instantiate generic kernels for it.</summary>
/// <typeparam name="TResult">What the visit returns.</typeparam>
public interface IQuantFormatVisitor<out TResult>
{
    /// <summary>Called with the format's <c>Format</c> struct as <typeparamref name="TFormat"/>.</summary>
    TResult Visit<TFormat>() where TFormat : struct, IQuantFormat<TFormat>;
}

/// <summary>
/// A registered format: its descriptor and its row kernels behind one virtual call each, for tools and
/// tests that pick a format by name. Hot loops go through <see cref="Accept{TResult}"/> to reach the
/// generic kernels instead.
/// </summary>
public abstract class QuantFormatEntry
{
    private protected QuantFormatEntry() { }

    /// <summary>The format's descriptor.</summary>
    public abstract QuantFormatInfo Info { get; }

    /// <summary>The generated <c>Format</c> struct.</summary>
    public abstract Type FormatType { get; }

    /// <summary>Calls <paramref name="visitor"/> with the format's struct as type argument.</summary>
    public abstract TResult Accept<TResult>(IQuantFormatVisitor<TResult> visitor);

    /// <summary>See <see cref="IQuantFormat{TSelf}.QuantizeRow"/>.</summary>
    public abstract void QuantizeRow(ReadOnlySpan<float> source, in QuantRowWriter destination, in QuantizeOptions options);

    /// <summary>See <see cref="IQuantFormat{TSelf}.DequantizeBlocks"/>.</summary>
    public abstract void DequantizeBlocks(in QuantRow source, int firstBlock, Span<float> destination, SimdLevel level);

    /// <summary>See <see cref="IQuantFormat{TSelf}.DotRow"/>.</summary>
    public abstract float DotRow(in QuantRow row, ReadOnlySpan<float> x, SimdLevel level);

    /// <summary>See <see cref="IQuantFormat{TSelf}.OpenClSource"/>: the format's OpenCL C source, or null.</summary>
    public abstract string? OpenClSource { get; }

    /// <inheritdoc/>
    public override string ToString() => Info.Name;
}

/// <summary>The registry entry of format <typeparamref name="TFormat"/>.</summary>
public sealed class QuantFormatEntry<TFormat> : QuantFormatEntry where TFormat : struct, IQuantFormat<TFormat>
{
    /// <inheritdoc/>
    public override QuantFormatInfo Info => TFormat.Info;

    /// <inheritdoc/>
    public override Type FormatType => typeof(TFormat);

    /// <inheritdoc/>
    public override TResult Accept<TResult>(IQuantFormatVisitor<TResult> visitor) => visitor.Visit<TFormat>();

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> source, in QuantRowWriter destination, in QuantizeOptions options)
        => TFormat.QuantizeRow(source, destination, options);

    /// <inheritdoc/>
    public override void DequantizeBlocks(in QuantRow source, int firstBlock, Span<float> destination, SimdLevel level)
        => TFormat.DequantizeBlocks(source, firstBlock, destination, level);

    /// <inheritdoc/>
    public override float DotRow(in QuantRow row, ReadOnlySpan<float> x, SimdLevel level) => TFormat.DotRow(row, x, level);

    /// <inheritdoc/>
    public override string? OpenClSource => TFormat.OpenClSource;
}

/// <summary>
/// Every format known to the process: generated code registers each format from a module initializer
/// of its assembly, so a format declared in a user's assembly is found by name, UQFF type and GGUF id
/// exactly like a built-in one.
/// </summary>
public static class QuantFormatRegistry
{
    private static readonly object s_gate = new();
    private static QuantFormatEntry[] s_entries = [];

    /// <summary>Registers format <typeparamref name="TFormat"/>. Registering the same format twice does nothing.</summary>
    /// <exception cref="InvalidOperationException">Another format already has this name, GGUF type id or single-format UQFF layer type.</exception>
    public static void Register<TFormat>() where TFormat : struct, IQuantFormat<TFormat>
    {
        var info = TFormat.Info;
        lock (s_gate)
        {
            foreach (var existing in s_entries)
            {
                if (existing.FormatType == typeof(TFormat)) return;
                string? clash =
                    string.Equals(existing.Info.Name, info.Name, StringComparison.OrdinalIgnoreCase) ? $"the name '{info.Name}'"
                    : info.GgufType >= 0 && existing.Info.GgufType == info.GgufType ? $"GGUF type {info.GgufType}"
                    : IsSingleFormatUqff(info.Uqff) && existing.Info.Uqff == info.Uqff ? $"UQFF layer type {info.Uqff}"
                    : info.Uqff is UqffLayer.Afq or UqffLayer.Hqq && existing.Info.Uqff == info.Uqff && existing.Info.CodeBits == info.CodeBits && existing.Info.BlockSize == info.BlockSize
                        ? $"UQFF {info.Uqff} layers of {info.CodeBits} bits in groups of {info.BlockSize}"
                    : null;
                if (clash is not null)
                {
                    throw new InvalidOperationException(
                        $"Cannot register format {typeof(TFormat).FullName}: {existing.FormatType.FullName} already has {clash}.");
                }
            }
            var next = new QuantFormatEntry[s_entries.Length + 1];
            s_entries.CopyTo(next, 0);
            next[^1] = new QuantFormatEntry<TFormat>();
            Array.Sort(next, static (a, b) => string.CompareOrdinal(a.Info.Name, b.Info.Name));
            s_entries = next;
        }
    }

    /// <summary>Every registered format, ordered by name.</summary>
    public static IReadOnlyList<QuantFormatEntry> All => s_entries;

    /// <summary>The format named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="QuantFormatException">No format has that name; the message lists the known ones.</exception>
    public static QuantFormatEntry Get(string name)
    {
        return TryGet(name, out var entry)
            ? entry
            : throw new QuantFormatException(
                $"Unknown format '{name}'. Known formats: {string.Join(", ", s_entries.Select(e => e.Info.Name))}.");
    }

    /// <summary>Looks a format up by name (case-insensitive).</summary>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out QuantFormatEntry? entry)
    {
        foreach (var e in s_entries)
        {
            if (string.Equals(e.Info.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                entry = e;
                return true;
            }
        }
        entry = null;
        return false;
    }

    /// <summary>The format with ggml type id <paramref name="ggufType"/>, or null.</summary>
    public static QuantFormatEntry? FindByGgufType(int ggufType)
        => ggufType < 0 ? null : Array.Find(s_entries, e => e.Info.GgufType == ggufType);

    /// <summary>
    /// The one format written as UQFF layer type <paramref name="layer"/>, or null. Gguf layers are found
    /// by their ggml type with <see cref="FindByGgufType"/> instead.
    /// </summary>
    public static QuantFormatEntry? FindByUqff(UqffLayer layer)
        => IsSingleFormatUqff(layer) ? Array.Find(s_entries, e => e.Info.Uqff == layer) : null;

    /// <summary>The format written as UQFF layer type <paramref name="layer"/> with codes of <paramref name="bits"/> bits in groups of <paramref name="groupSize"/> (Afq, Hqq), or null.</summary>
    public static QuantFormatEntry? FindByUqff(UqffLayer layer, int bits, int groupSize)
        => Array.Find(s_entries, e => e.Info.Uqff == layer && e.Info.CodeBits == bits && e.Info.BlockSize == groupSize);

    // Gguf layers carry a ggml type, and Hqq / Afq layers carry bits and group size, so several formats
    // share those layer types; the others name exactly one format.
    internal static bool IsSingleFormatUqff(UqffLayer layer)
        => layer is UqffLayer.Mxfp4 or UqffLayer.Fp8 or UqffLayer.F8Q8;
}
