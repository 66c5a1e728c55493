using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Quant.Kernels;
using Quant.Runtime.Gguf;
using Quant.Runtime.Isq;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;

namespace Quant.Runtime.Conversion;

/// <summary>What <see cref="CheckpointQuantizer"/> writes.</summary>
public enum QuantizeOutput
{
    /// <summary>A UQFF model (<see cref="UqffModelFormat"/>).</summary>
    Uqff,
    /// <summary>A GGUF file llama.cpp loads.</summary>
    Gguf,
}

/// <summary>How <see cref="CheckpointQuantizer"/> quantizes a checkpoint.</summary>
public sealed record CheckpointQuantizerOptions
{
    /// <summary>The format of every linear layer no rule names (<c>--to</c>); null when <see cref="Rules"/> has a default.</summary>
    public string? Format { get; init; }

    /// <summary>The quantization rule of <see cref="Format"/> (null: the format's default).</summary>
    public string? Rule { get; init; }

    /// <summary>Per-layer choices (<c>--rules</c>), tried before <see cref="Format"/>; a rule's <c>dense</c> keeps a layer in its dtype.</summary>
    public IsqRules? Rules { get; init; }

    /// <summary>Importance per layer name (<c>[K]</c>, or <c>[E, K]</c> for stacked experts), from an <c>.imatrix.safetensors</c> file.</summary>
    public IReadOnlyDictionary<string, HostTensor>? Imatrix { get; init; }

    /// <summary>ISQ workers, each quantizing one layer at a time on one thread; 0 for one per logical core.</summary>
    public int Threads { get; init; }

    /// <summary>The size limit of one <c>.uqff</c> part (10 GiB by default).</summary>
    public long MaxFileBytes { get; init; } = UqffModelFormat.DefaultMaxFileBytes;

    /// <summary>
    /// Whether MXFP4 experts (GPT-OSS) are re-quantized to the format the rules pick; by default they stay MXFP4 (UQFF
    /// Mxfp4 layers, GGUF MXFP4 tensors), which loses nothing.
    /// </summary>
    public bool RequantizeMxfp4 { get; init; }

    /// <summary><c>general.name</c> of a GGUF file, or null.</summary>
    public string? Name { get; init; }

    /// <summary>The output kind of a path: <c>.uqff</c> or <c>.gguf</c>.</summary>
    /// <exception cref="ArgumentException">The extension is neither.</exception>
    public static QuantizeOutput OutputOf(string path)
    {
        string extension = Path.GetExtension(path);
        return extension.Equals(".uqff", StringComparison.OrdinalIgnoreCase) ? QuantizeOutput.Uqff
            : extension.Equals(".gguf", StringComparison.OrdinalIgnoreCase) ? QuantizeOutput.Gguf
            : throw new ArgumentException($"the output '{path}' must end in .uqff (a UQFF model) or .gguf (a GGUF file).");
    }

    /// <summary>The rules with <see cref="Format"/> as their default when they have none.</summary>
    public IsqRules EffectiveRules =>
        Rules is null ? new IsqRules([], Format, Rule)
        : Rules.DefaultFormat is null && Format is not null ? new IsqRules(Rules.Rules, Format, Rule)
        : Rules;

    /// <summary>
    /// Checks, before any file is read, that every format these options name is registered, has the named rules, and
    /// can be written to <paramref name="output"/>: a UQFF layer type for UQFF, a GGUF type id and one block-record plane for GGUF.
    /// </summary>
    /// <exception cref="ArgumentException">No format is given, or one is unknown or cannot be written to the output; the message says which and why.</exception>
    public void Validate(QuantizeOutput output)
    {
        QuantCatalog.EnsureRegistered();
        if (Threads < 0) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"--threads must be 0 (every core) or positive; got {Threads}."));
        if (MaxFileBytes <= 0) throw new ArgumentException("the UQFF part size limit must be positive.");
        var rules = EffectiveRules;
        if (rules.DefaultFormat is null && Format is null && (Rules is null || Rules.Rules.Count == 0))
            throw new ArgumentException("give --to FORMAT, or a rules file with a default ('* = FORMAT').");
        var named = rules.Rules.Select(r => (r.Format, r.Rule, Where: $"rule '{r.Pattern}'")).Append((rules.DefaultFormat, rules.DefaultRule, Where: "the default format"));
        foreach (var (format, rule, where) in named)
        {
            if (format is null) continue;
            if (!QuantFormatRegistry.TryGet(format, out var entry))
                throw new ArgumentException($"unknown format '{format}' ({where}); known formats: {string.Join(", ", QuantFormatRegistry.All.Select(e => e.Info.Name))}.");
            try
            {
                entry.Info.FindRule(rule);
            }
            catch (QuantFormatException e)
            {
                throw new ArgumentException($"{where}: {e.Message}", e);
            }
            if (output == QuantizeOutput.Uqff && entry.Info.Uqff == UqffLayer.None)
                throw new ArgumentException($"format '{format}' ({where}) has no UQFF layer type, so it cannot go into a UQFF model; formats that can: {string.Join(", ", QuantFormatRegistry.All.Where(e => e.Info.Uqff != UqffLayer.None).Select(e => e.Info.Name))}.");
            if (output == QuantizeOutput.Gguf)
            {
                try
                {
                    GgufTensorType.Of(entry);
                }
                catch (QuantFormatException e)
                {
                    throw new ArgumentException($"format '{format}' ({where}) cannot be a GGUF tensor type: {e.Message} Formats that can: {string.Join(", ", QuantFormatRegistry.All.Where(e => e.Info.GgufType >= 0 && e.Info.Planes.Count == 1).Select(e => e.Info.Name))}.", e);
                }
            }
        }
    }
}
