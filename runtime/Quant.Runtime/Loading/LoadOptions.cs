namespace Quant.Runtime.Loading;

/// <summary>What layers apply as they load from a <see cref="ShardedVarBuilder"/>.</summary>
public sealed record LoadOptions
{
    /// <summary>No ISQ, no adapters.</summary>
    public static LoadOptions Default { get; } = new();

    /// <summary>Worker threads for the layers' products (0: every thread of the kernels' pool).</summary>
    public int Threads { get; init; }
}
