using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Quant.Runtime.Layers;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;

namespace Quant.Runtime.Imatrix;

/// <summary>
/// Importance matrices: per layer, the mean of <c>x^2</c> of each input column over the activations the layer saw
/// (<see cref="IQuantMethod.EndTrackStats"/>), which the K-quant and iq searches weight their errors with. Stored
/// as <c>.imatrix.safetensors</c>: one F32 tensor per layer, named by the layer, <c>[K]</c> or <c>[E, K]</c>.
/// </summary>
public static class ImatrixFile
{
    /// <summary>The <c>format</c> metadata value the files carry.</summary>
    public const string FormatTag = "quant-imatrix-1";

    /// <summary>Writes <paramref name="importance"/> atomically.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, HostTensor> importance)
    {
        ArgumentNullException.ThrowIfNull(importance);
        foreach (var (name, tensor) in importance)
            if (tensor.DType != DType.F32 || tensor.Rank is not (1 or 2)) throw new ArgumentException($"Importance of '{name}' must be F32 [K] or [E, K]; got {tensor}.", nameof(importance));
        SafetensorsWriter.WriteFile(path, importance.OrderBy(p => p.Key, StringComparer.Ordinal), new Dictionary<string, string> { ["format"] = FormatTag });
    }

    /// <summary>Reads an importance file.</summary>
    /// <exception cref="QuantFormatException">The file is not a valid importance file (not safetensors, wrong tag, a tensor not F32 [K] / [E, K], a negative or non-finite value).</exception>
    public static IReadOnlyDictionary<string, HostTensor> Load(string path)
    {
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("format", out var tag) || tag != FormatTag)
            throw new QuantFormatException($"{path} is not an importance file (its 'format' metadata is '{tag}', not '{FormatTag}').");
        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var entry in file.Entries)
        {
            if (entry.DType != DType.F32 || entry.Shape.Length is not (1 or 2))
                throw new QuantFormatException($"{path}: importance of '{entry.Name}' must be F32 [K] or [E, K]; it is {entry.DType} {HostTensor.ShapeText(entry.Shape)}.");
            var tensor = file.Get(entry.Name).Clone();
            foreach (float v in tensor.AsSpan<float>())
                if (!(v >= 0f) || float.IsInfinity(v))
                    throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"{path}: importance of '{entry.Name}' holds {v}; mean squares are finite and not negative."));
            result[entry.Name] = tensor;
        }
        return result;
    }

    /// <summary>Begins tracking on every layer of <paramref name="layers"/>.</summary>
    public static void BeginTracking(IReadOnlyDictionary<string, IQuantMethod> layers)
    {
        foreach (var layer in layers.Values) layer.BeginTrackStats();
    }

    /// <summary>Ends tracking on every layer and returns their importance, by layer name.</summary>
    public static Dictionary<string, HostTensor> EndTracking(IReadOnlyDictionary<string, IQuantMethod> layers) =>
        layers.ToDictionary(p => p.Key, p => p.Value.EndTrackStats(), StringComparer.Ordinal);
}
