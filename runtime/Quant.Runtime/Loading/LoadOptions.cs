using System.Collections.Generic;
using Quant.Runtime.Isq;
using Quant.Runtime.Lora;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Loading;

/// <summary>What layers apply as they load from a <see cref="ShardedVarBuilder"/>: adapters, then immediate ISQ.</summary>
public sealed record LoadOptions
{
    /// <summary>No ISQ, no adapters.</summary>
    public static LoadOptions Default { get; } = new();

    /// <summary>Worker threads for the layers' products (0: every thread of the kernels' pool).</summary>
    public int Threads { get; init; }

    /// <summary>Which layers immediate ISQ quantizes, to what; null for none.</summary>
    public IsqRules? Isq { get; init; }

    /// <summary>The pool that quantizes them; null quantizes on the loading thread.</summary>
    public IsqScheduler? IsqScheduler { get; init; }

    /// <summary>Importance per layer name (<c>[K]</c> or <c>[E, K]</c>), handed to the quantizer; null for none.</summary>
    public IReadOnlyDictionary<string, HostTensor>? Imatrix { get; init; }

    /// <summary>LoRA adapters merged into dense weights before ISQ; null for none.</summary>
    public LoraSet? Lora { get; init; }
}
