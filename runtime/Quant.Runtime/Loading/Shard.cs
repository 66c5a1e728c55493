using System;
using System.Collections.Generic;
using System.Globalization;

namespace Quant.Runtime.Loading;

/// <summary>
/// Which part of a tensor a rank loads: all of it (<see cref="None"/>), the rank's equal share of one
/// dimension (<see cref="Simple"/>) or an explicit range of one dimension (<see cref="Offset"/>).
/// </summary>
public readonly record struct Shard
{
    private Shard(ShardKind kind, int dim, int rank, int worldSize, int offset, int length)
    {
        Kind = kind;
        Dimension = dim;
        Rank = rank;
        WorldSize = worldSize;
        Start = offset;
        Length = length;
    }

    /// <summary>The kind of shard.</summary>
    public ShardKind Kind { get; }

    /// <summary>The sharded dimension.</summary>
    public int Dimension { get; }

    /// <summary>The rank, for <see cref="ShardKind.Simple"/>.</summary>
    public int Rank { get; }

    /// <summary>The world size, for <see cref="ShardKind.Simple"/>.</summary>
    public int WorldSize { get; }

    /// <summary>The first index, for <see cref="ShardKind.Offset"/>.</summary>
    public int Start { get; }

    /// <summary>The number of indices, for <see cref="ShardKind.Offset"/>.</summary>
    public int Length { get; }

    /// <summary>The whole tensor (the default).</summary>
    public static Shard None => default;

    /// <summary>
    /// Indices <c>[rank * n / worldSize, (rank + 1) * n / worldSize)</c> of dimension <paramref name="dim"/>,
    /// where <c>n</c> must divide by <paramref name="worldSize"/>.
    /// </summary>
    public static Shard Simple(int dim, int rank, int worldSize)
    {
        if (dim < 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "A shard's dimension is not negative.");
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), worldSize, "The world has at least one rank.");
        if (rank < 0 || rank >= worldSize) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"The rank must be in [0, {worldSize}).");
        return new Shard(ShardKind.Simple, dim, rank, worldSize, 0, 0);
    }

    /// <summary>Indices <c>[offset, offset + length)</c> of dimension <paramref name="dim"/>.</summary>
    public static Shard Offset(int dim, int offset, int length)
    {
        if (dim < 0) throw new ArgumentOutOfRangeException(nameof(dim), dim, "A shard's dimension is not negative.");
        if (offset < 0 || length < 0) throw new ArgumentOutOfRangeException(nameof(offset), "A shard's offset and length are not negative.");
        return new Shard(ShardKind.Offset, dim, 0, 1, offset, length);
    }

    /// <summary>
    /// The range this shard takes of a tensor of <paramref name="shape"/>: <c>(dim, start, length)</c>, or null
    /// for the whole tensor.
    /// </summary>
    /// <exception cref="QuantFormatException">The dimension does not exist, does not divide by the world size, or the range runs past it.</exception>
    public (int Dim, int Start, int Length)? Resolve(IReadOnlyList<int> shape, string what = "tensor")
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (Kind == ShardKind.None) return null;
        if (Dimension >= shape.Count)
            throw new QuantFormatException($"{what}: cannot shard dimension {Dimension} of a tensor of shape [{string.Join(", ", shape)}].");
        int n = shape[Dimension];
        if (Kind == ShardKind.Simple)
        {
            if (n % WorldSize != 0)
                throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"{what}: dimension {Dimension} of shape [{string.Join(", ", shape)}] has {n} entries, which do not split evenly over {WorldSize} ranks."));
            int size = n / WorldSize;
            return (Dimension, Rank * size, size);
        }
        if (Start > n - Length)
            throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture,
                $"{what}: the range [{Start}, {Start + Length}) runs past dimension {Dimension} of shape [{string.Join(", ", shape)}]."));
        return (Dimension, Start, Length);
    }

    /// <summary>The shape after sharding.</summary>
    public int[] Apply(IReadOnlyList<int> shape, string what = "tensor")
    {
        var result = new int[shape.Count];
        for (int i = 0; i < result.Length; i++) result[i] = shape[i];
        if (Resolve(shape, what) is { } range) result[range.Dim] = range.Length;
        return result;
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch
    {
        ShardKind.Simple => $"Simple(dim {Dimension}, rank {Rank} of {WorldSize})",
        ShardKind.Offset => $"Offset(dim {Dimension}, [{Start}, {Start + Length}))",
        _ => "None",
    };
}

/// <summary>The kinds of <see cref="Shard"/>.</summary>
public enum ShardKind
{
    /// <summary>The whole tensor.</summary>
    None,
    /// <summary>An equal share per rank.</summary>
    Simple,
    /// <summary>An explicit range.</summary>
    Offset,
}
