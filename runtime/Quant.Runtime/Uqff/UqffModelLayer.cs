using System;
using System.Globalization;

namespace Quant.Runtime.Uqff;

/// <summary>One layer of a UQFF model file: its index, the checkpoint tensor it came from, and its blob's length.</summary>
/// <param name="Index">The layer's index: the name of its entry in the <c>.uqff</c> file (<c>"0"</c>, <c>"1"</c>, ...).</param>
/// <param name="Name">
/// The checkpoint layer it holds, without <c>.weight</c> (<c>model.layers.0.self_attn.q_proj</c>), or null when the
/// file does not say (files written by mistral.rs match layers to the model by order alone).
/// </param>
/// <param name="Expert">For one expert of a stacked expert tensor (<c>mlp.experts.gate_up_proj</c> <c>[E, N, K]</c>), its index; null otherwise.</param>
/// <param name="Length">The blob's length in bytes.</param>
public sealed record UqffModelLayer(int Index, string? Name, int? Expert, long Length)
{
    /// <summary>The name with the expert, as messages and tables show it: <c>model.layers.0.mlp.experts.gate_up_proj[3]</c>.</summary>
    public string DisplayName => (Name ?? string.Create(CultureInfo.InvariantCulture, $"layer {Index}"))
        + (Expert is int e ? string.Create(CultureInfo.InvariantCulture, $"[{e}]") : "");

    /// <summary>Checks the values a writer is given.</summary>
    /// <exception cref="ArgumentException">The index or expert is negative, the name is empty, or the length is below the 5 bytes of a blob's version and type or above 2^31 - 1.</exception>
    internal void Validate()
    {
        if (Index < 0) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer index {Index} is negative."));
        if (Name is { Length: 0 }) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {Index} has an empty name."));
        if (Expert is < 0) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {Index} has expert {Expert}."));
        if (Length < 5) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {Index} has a blob of {Length} bytes; a blob has at least 5."));
        // A safetensors dimension and a .NET array both stop at 2^31 - 1.
        if (Length > int.MaxValue) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Layer {Index} ({DisplayName}) has a blob of {Length} bytes; one blob holds at most {int.MaxValue}."));
    }
}
