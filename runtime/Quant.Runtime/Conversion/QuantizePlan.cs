using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Quant.Kernels;
using Quant.Runtime.Gguf;
using Quant.Runtime.Safetensors;
using Quant.Runtime.Tensors;
using Quant.Runtime.Uqff;
using Quant.Uqff;

namespace Quant.Runtime.Conversion;

/// <summary>
/// Everything a conversion will do, decided before any weight is read: which tensors are linear layers and what each
/// becomes (the format its rule picks, kept in its dtype, kept as MXFP4, or a fallback when its rows do not fit the
/// format's blocks), the output's steps in order with every byte count, the UQFF parts or the GGUF tensor table and
/// metadata. A linear layer is a 2-D float <c>X.weight</c> that is not an embedding, a norm or a mixture-of-experts router
/// (GGUF: a 2-D or 3-D <c>.weight</c> other than <c>token_embd</c>, the norms and <c>ffn_gate_inp</c>), or GPT-OSS's
/// MXFP4 expert pairs <c>X_blocks</c> / <c>X_scales</c>; everything else is residual and kept. GGUF output also quantizes the
/// token embedding, as llama.cpp's tools do; UQFF keeps it, as mistral.rs does. Rows that do not fit a K-quant's 256 fall
/// back as llama-quantize falls back (q4_K to q5_0, q6_K to q8_0, ...), then to F16 (GGUF) or the layer's dtype (UQFF).
/// </summary>
public sealed class QuantizePlan
{
    private static readonly Regex s_denseGptOssExperts = new(@"\.experts\.(gate_up_proj|down_proj)$", RegexOptions.CultureInvariant);

    private QuantizePlan(CheckpointSource source, string outputPath, QuantizeOutput output, IReadOnlyList<QuantizeStep> steps, IReadOnlyList<LinearWeight> linears,
        GgufArchitecture? architecture, GgufMetadata? metadata, IReadOnlyList<(string, byte[])> sideFiles, IReadOnlyList<string> notes, long maxFileBytes)
    {
        Source = source;
        OutputPath = Path.GetFullPath(outputPath);
        Output = output;
        Steps = steps;
        Linears = linears;
        Architecture = architecture;
        Metadata = metadata;
        SideFiles = sideFiles;
        Notes = notes;
        MaxFileBytes = maxFileBytes;
        Units = steps.OfType<LinearStep>().SelectMany(s => s.Units).ToArray();
        if (output == QuantizeOutput.Uqff)
        {
            Layers = steps.OfType<LinearStep>().Select(s => s.Layer!).OrderBy(l => l.Index).ToArray();
            ResidualTable = steps.OfType<ResidualStep>().Select(r => new SafetensorsTensorInfo(r.OutputName, r.DType!.Value, r.OutputShape)).ToArray();
            Parts = UqffModelWriter.Plan(OutputPath, Layers, maxFileBytes);
            OutputFiles = UqffModelWriter.OutputFiles(OutputPath, Parts.Count, sideFiles.Select(s => s.Item1));
        }
        else
        {
            OutputFiles = [OutputPath];
        }
    }

    /// <summary>The checkpoint.</summary>
    public CheckpointSource Source { get; }

    /// <summary>The output path as given (<c>model.uqff</c> names the parts <c>model-N.uqff</c>).</summary>
    public string OutputPath { get; }

    /// <summary>UQFF or GGUF.</summary>
    public QuantizeOutput Output { get; }

    /// <summary>The steps, in output order (UQFF: the residual tensors, then the layers by index; GGUF: the tensor table).</summary>
    public IReadOnlyList<QuantizeStep> Steps { get; }

    /// <summary>Every unit (a UQFF layer, or one expert's part of a GGUF tensor), in output order.</summary>
    public IReadOnlyList<QuantizeUnit> Units { get; }

    /// <summary>The checkpoint's linear weights.</summary>
    public IReadOnlyList<LinearWeight> Linears { get; }

    /// <summary>The GGUF architecture of a safetensors checkpoint written as GGUF, or null.</summary>
    public GgufArchitecture? Architecture { get; }

    /// <summary>The GGUF metadata, or null for UQFF.</summary>
    public GgufMetadata? Metadata { get; }

    /// <summary>The UQFF layers, in index order (null for GGUF).</summary>
    public IReadOnlyList<UqffModelLayer>? Layers { get; }

    /// <summary>The UQFF residual tensors (null for GGUF).</summary>
    public IReadOnlyList<SafetensorsTensorInfo>? ResidualTable { get; }

    /// <summary>The UQFF parts (null for GGUF).</summary>
    public IReadOnlyList<UqffModelPart>? Parts { get; }

    /// <summary>The files copied beside a UQFF model (<c>config.json</c>, tokenizer files).</summary>
    public IReadOnlyList<(string FileName, byte[] Bytes)> SideFiles { get; }

    /// <summary>Every file the conversion creates or replaces.</summary>
    public IReadOnlyList<string> OutputFiles { get; }

    /// <summary>What the plan decided that a user should know (fallbacks, a tokenizer that could not be converted).</summary>
    public IReadOnlyList<string> Notes { get; }

    /// <summary>The UQFF part size limit.</summary>
    public long MaxFileBytes { get; }

    /// <summary>Bytes of the checkpoint the conversion reads.</summary>
    public long InputBytes => Steps.Sum(s => s.InputBytes);

    /// <summary>
    /// The output's size within a few kilobytes: the tensor data exactly, plus a bound on the headers (the GGUF metadata
    /// and tensor table, each safetensors header's JSON), for the free-space check before the work starts.
    /// </summary>
    public long EstimatedOutputBytes
    {
        get
        {
            long data = Steps.Sum(s => s.OutputBytes) + SideFiles.Sum(s => (long)s.Bytes.Length);
            long headers = 64 * 1024 + 256L * Steps.Count + 32L * Steps.Count;
            if (Metadata is not null) headers += Metadata.Sum(p => 64L + EstimateValue(p.Value));
            return data + headers;
        }
    }

    /// <summary>
    /// Plans the conversion of <paramref name="source"/> to <paramref name="outputPath"/> (<c>.uqff</c> or <c>.gguf</c>).
    /// <paramref name="options"/> must have passed <see cref="CheckpointQuantizerOptions.Validate"/>.
    /// </summary>
    /// <exception cref="QuantFormatException">The checkpoint cannot be converted: it is already quantized (GPTQ, FP8, ...), a tensor has an unexpected shape, GGUF output meets an architecture or tensor llama.cpp would not know, or <c>config.json</c> lacks a value GGUF needs.</exception>
    public static QuantizePlan Create(CheckpointSource source, string outputPath, CheckpointQuantizerOptions options)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        QuantCatalog.EnsureRegistered();
        var output = CheckpointQuantizerOptions.OutputOf(outputPath);
        RefusePrequantized(source);
        // GGUF follows llama.cpp's convention and quantizes the token embedding with the layers (llama-quantize does; llama.cpp
        // reads its rows with get_rows in any block type); UQFF follows mistral.rs, which keeps it in residual.safetensors.
        var (linears, residual) = Classify(source, embeddingIsQuantized: output == QuantizeOutput.Gguf);
        var notes = new List<string>();
        return output == QuantizeOutput.Uqff
            ? PlanUqff(source, outputPath, options, linears, residual, notes)
            : PlanGguf(source, outputPath, options, linears, residual, notes);
    }

    private static void RefusePrequantized(CheckpointSource source)
    {
        if (source.Config is not { } config || !config.TryGetProperty("quantization_config", out var q) || q.ValueKind != JsonValueKind.Object) return;
        string method = q.TryGetProperty("quant_method", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "?";
        if (method != "mxfp4")
            throw new QuantFormatException($"{source.Path} is already quantized ({method}); quantize a dense checkpoint (F32, F16 or BF16), or GPT-OSS's MXFP4 one.");
    }

    private static (List<LinearWeight> Linears, List<SourceTensor> Residual) Classify(CheckpointSource source, bool embeddingIsQuantized)
    {
        var linears = new List<LinearWeight>();
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in source.Tensors.OrderBy(t => t.Name, ModelOrderComparer.Instance))
        {
            if (consumed.Contains(t.Name)) continue;
            if (source.Kind == CheckpointKind.Safetensors)
            {
                if (t.Name.EndsWith("_blocks", StringComparison.Ordinal) && t.DType == DType.U8 && t.Shape.Length == 4 && t.Shape[3] == 16)
                {
                    string stem = t.Name[..^"_blocks".Length];
                    int experts = t.Shape[0], rows = t.Shape[1], blocks = t.Shape[2];
                    var scales = source.Find(stem + "_scales");
                    if (scales is null || scales.DType != DType.U8 || !scales.Shape.SequenceEqual(new[] { experts, rows, blocks }))
                        throw new QuantFormatException($"MXFP4 tensor '{t.Name}' {t.ShapeText} needs '{stem}_scales' U8 [{experts}, {rows}, {blocks}]; it is {(scales is null ? "missing" : $"{scales.TypeName} {scales.ShapeText}")}.");
                    var bias = source.Find(stem + "_bias");
                    if (bias is not null && (!bias.IsFloat || !bias.Shape.SequenceEqual(new[] { experts, rows })))
                        throw new QuantFormatException($"'{bias.Name}' is {bias.TypeName} {bias.ShapeText}; the bias of '{stem}' must be a float [{experts}, {rows}].");
                    linears.Add(new LinearWeight(stem, null, t, scales, bias, experts, rows, blocks * 32));
                    consumed.UnionWith(new[] { t.Name, scales.Name }.Concat(bias is null ? [] : [bias.Name]));
                }
                else if (t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Length == 2 && t.IsFloat
                    && (!IsKeptCheckpointName(t.Name) || (embeddingIsQuantized && t.Name == "model.embed_tokens.weight")))
                {
                    AddDense(source, t, linears, consumed);
                }
                else if (t.Shape.Length == 3 && t.IsFloat && s_denseGptOssExperts.IsMatch(t.Name))
                {
                    throw new QuantFormatException($"'{t.Name}' {t.ShapeText} holds dense stacked experts (GPT-OSS's BF16 layout, [E, in, out]), which quantize does not read yet; convert GPT-OSS from its MXFP4 checkpoint.");
                }
            }
            else if (t.Name.EndsWith(".weight", StringComparison.Ordinal) && t.Shape.Length is 2 or 3
                && (!IsKeptGgufName(t.Name) || (embeddingIsQuantized && t.Name == "token_embd.weight")))
            {
                AddDense(source, t, linears, consumed);
            }
        }
        var residual = source.Tensors.Where(t => !consumed.Contains(t.Name)).OrderBy(t => t.Name, ModelOrderComparer.Instance).ToList();
        return (linears, residual);
    }

    private static void AddDense(CheckpointSource source, SourceTensor t, List<LinearWeight> linears, HashSet<string> consumed)
    {
        string stem = t.Name[..^".weight".Length];
        int experts = t.Shape.Length == 3 ? t.Shape[0] : 1, rows = t.Shape[^2], columns = t.Shape[^1];
        if (rows == 0 || columns == 0 || experts == 0) throw new QuantFormatException($"Linear weight '{t.Name}' has an empty shape {t.ShapeText}.");
        var bias = source.Find(stem + ".bias");
        int[] biasShape = experts == 1 ? [rows] : [experts, rows];
        if (bias is not null && !(bias.IsFloat && bias.Shape.SequenceEqual(biasShape))) bias = null;
        linears.Add(new LinearWeight(stem, t, null, null, bias, experts, rows, columns));
        consumed.Add(t.Name);
        if (bias is not null) consumed.Add(bias.Name);
    }

    // Embeddings, norms and routers stay as they are (llama.cpp keeps the router, ffn_gate_inp, in F32; mistral.rs does not quantize it).
    private static bool IsKeptCheckpointName(string name) =>
        name.Contains("embed", StringComparison.Ordinal) || name.Contains("norm", StringComparison.Ordinal) || name.Contains("wte.", StringComparison.Ordinal)
        || name.EndsWith(".mlp.gate.weight", StringComparison.Ordinal) || name.EndsWith(".block_sparse_moe.gate.weight", StringComparison.Ordinal)
        || name.EndsWith(".mlp.router.weight", StringComparison.Ordinal);

    private static bool IsKeptGgufName(string name) =>
        name.StartsWith("token_embd", StringComparison.Ordinal) || name.StartsWith("position_embd", StringComparison.Ordinal) || name.Contains("_norm", StringComparison.Ordinal)
        || name.Contains("ffn_gate_inp", StringComparison.Ordinal) || name.Contains("attn_sinks", StringComparison.Ordinal) || name.StartsWith("rope_", StringComparison.Ordinal);

    // --- UQFF -------------------------------------------------------------------------------------------------------

    private static QuantizePlan PlanUqff(CheckpointSource source, string outputPath, CheckpointQuantizerOptions options, List<LinearWeight> linears, List<SourceTensor> residual, List<string> notes)
    {
        var rules = options.EffectiveRules;
        var steps = new List<QuantizeStep>();
        foreach (var t in residual)
        {
            var dtype = t.DType ?? DType.F32;
            steps.Add(new ResidualStep(t, t.Name, t.Shape, dtype, null, RowSelection.All, HostTensor.ByteCountOf(dtype, t.Shape)));
        }
        int index = 0;
        foreach (var linear in linears)
        {
            for (int e = 0; e < linear.Experts; e++)
            {
                var unit = UqffUnit(linear, linear.Experts > 1 ? e : null, rules, options, notes);
                var layer = new UqffModelLayer(index++, linear.Name, unit.AllExperts ? null : unit.Expert, unit.OutputBytes);
                steps.Add(new LinearStep(layer.DisplayName, [unit], layer, null, null));
                // Kept MXFP4 experts are one layer, all experts stacked.
                if (unit.AllExperts) break;
            }
        }
        var side = new List<(string, byte[])>();
        if (source.Kind == CheckpointKind.Safetensors)
        {
            foreach (var name in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json" })
            {
                string p = Path.Combine(source.Directory, name);
                if (File.Exists(p)) side.Add((name, File.ReadAllBytes(p)));
            }
        }
        return new QuantizePlan(source, outputPath, QuantizeOutput.Uqff, steps, linears, null, null, side, notes, options.MaxFileBytes);
    }

    /// <summary>
    /// The format llama-quantize falls back to when a row does not fit a format's blocks (K-quants need rows of 256): a
    /// legacy format of the same or more bits in blocks of 32; null when there is none.
    /// </summary>
    internal static string? FallbackFormat(string format) => format switch
    {
        "q2_K" or "q3_K" or "iq4_xs" => "iq4_nl",
        "q4_K" => "q5_0",
        "q5_K" => "q5_1",
        "q6_K" => "q8_0",
        _ => null,
    };

    private static QuantizeUnit UqffUnit(LinearWeight linear, int? expert, Isq.IsqRules rules, CheckpointQuantizerOptions options, List<string> notes)
    {
        bool bias = linear.Bias is not null;
        int n = linear.Rows, k = linear.Columns;
        var target = rules.Resolve(linear.Name);
        if (linear.IsMxfp4 && (!options.RequantizeMxfp4 || target is null)) return KeptMxfp4(linear, bias, null);
        string? note = null;
        if (target is { } t)
        {
            var format = Format(t.Format);
            if (k % format.BlockSize == 0) return new QuantizeUnit(linear, expert, RowSelection.All, 0, UnitTreatment.Quantize, format.Name, format.Name, t.Rule, bias, UqffCodec.LayerLength(format, n, k, bias), null);
            if (FallbackFormat(format.Name) is { } fallbackName && k % Format(fallbackName).BlockSize == 0)
            {
                var fallback = Format(fallbackName);
                note = string.Create(CultureInfo.InvariantCulture, $"{k} columns are not a multiple of {format.Name}'s block of {format.BlockSize}: {fallback.Name}, as llama-quantize falls back");
                Note(notes, $"{linear.Name}: {note}");
                return new QuantizeUnit(linear, expert, RowSelection.All, 0, UnitTreatment.Quantize, fallback.Name, fallback.Name, null, bias, UqffCodec.LayerLength(fallback, n, k, bias), note);
            }
            note = string.Create(CultureInfo.InvariantCulture, $"{k} columns are not a multiple of {format.Name}'s block of {format.BlockSize}: kept in its dtype");
            Note(notes, $"{linear.Name}: {note}");
        }
        // Requantizing MXFP4 to a format whose blocks do not fit: keep it as it is.
        if (linear.IsMxfp4) return KeptMxfp4(linear, bias, note);
        var w = linear.Weight!;
        if (w.GgufType is { } g)
        {
            return g.Format!.Info.Uqff == UqffLayer.None
                ? throw new QuantFormatException($"'{w.Name}' is {g.Name}, which has no UQFF layer type; give it a format with a rule.")
                : new QuantizeUnit(linear, expert, RowSelection.All, 0, UnitTreatment.Keep, g.Name, null, null, bias, UqffCodec.LayerLength(g.Format.Info, n, k, bias), note);
        }
        var code = UnquantCode(w.DType!.Value);
        return new QuantizeUnit(linear, expert, RowSelection.All, 0, UnitTreatment.Keep, code.ToString().ToLowerInvariant(), null, null, bias,
            UqffCodec.UnquantLength(n, k, code, bias, UqffDType.F32), note);
    }

    // MXFP4 experts kept: one Mxfp4 layer of all of them, blocks [E, N, K/2], scales [E, N, K/32], bias [E, N].
    private static QuantizeUnit KeptMxfp4(LinearWeight linear, bool bias, string? note) =>
        new(linear, null, RowSelection.All, 0, UnitTreatment.KeepMxfp4, "mxfp4", null, null, bias,
            UqffCodec.LayerLength(Format("mxfp4"), linear.Rows, linear.Columns, bias, linear.Experts), note, allExperts: true);

    /// <summary>The Unquant dtype a dense weight is kept in: its own (F64 becomes F32).</summary>
    internal static UqffDType UnquantCode(DType dtype) => dtype switch
    {
        DType.F16 => UqffDType.F16,
        DType.BF16 => UqffDType.BF16,
        _ => UqffDType.F32,
    };

    // --- GGUF -------------------------------------------------------------------------------------------------------

    private static QuantizePlan PlanGguf(CheckpointSource source, string outputPath, CheckpointQuantizerOptions options, List<LinearWeight> linears, List<SourceTensor> residual, List<string> notes)
    {
        var rules = options.EffectiveRules;
        GgufArchitecture? architecture = null;
        int heads = 0, kvHeads = 0;
        if (source.Kind == CheckpointKind.Safetensors)
        {
            architecture = GgufArchitecture.Detect(source.Config, source.Tensors.Select(t => t.Name))
                ?? throw new QuantFormatException($"{source.Path}: GGUF output needs an architecture llama.cpp knows, and this checkpoint's config.json model_type and tensor names match none of {string.Join(", ", GgufArchitecture.KnownModelTypes)}; write UQFF instead.");
            if (source.Config is null) throw new QuantFormatException($"{source.Directory} has no config.json; GGUF output takes the model's hyperparameters from it.");
            (heads, kvHeads) = GgufArchitecture.Heads(source.Config.Value);
        }
        IReadOnlyList<GgufPlacement> Place(string name)
        {
            if (architecture is null) return [new GgufPlacement(name, null, RowSelection.All, 0)];
            return architecture.Place(name, heads, kvHeads)
                ?? throw new QuantFormatException($"'{name}' is not a tensor of a {architecture.ModelType} model that llama.cpp's '{architecture.Name}' architecture loads; write UQFF instead.");
        }

        // Linear weights: placements grouped into GGUF tensors (per-expert checkpoint tensors stack into one).
        var groups = new Dictionary<string, List<(int Expert, QuantizeUnit Unit)>>(StringComparer.Ordinal);
        var stackedFromPlain = new HashSet<string>(StringComparer.Ordinal);
        var residualSteps = new List<ResidualStep>();
        foreach (var linear in linears)
        {
            foreach (var place in Place(linear.Name + ".weight"))
            {
                var list = groups.TryGetValue(place.GgufName, out var l) ? l : groups[place.GgufName] = [];
                if (place.Expert is int slot)
                {
                    if (linear.Experts != 1) throw new QuantFormatException($"'{linear.Name}' is stacked and also one expert of '{place.GgufName}'.");
                    stackedFromPlain.Add(place.GgufName);
                    list.Add((slot, GgufUnit(linear, null, place, rules, options, notes)));
                }
                else
                {
                    for (int e = 0; e < linear.Experts; e++) list.Add((e, GgufUnit(linear, linear.Experts > 1 ? e : null, place, rules, options, notes)));
                }
            }
            if (linear.Bias is { } bias) residualSteps.AddRange(GgufResidual(bias, Place(bias.Name), source.Kind));
        }
        var steps = new List<(string Name, QuantizeStep Step)>();
        foreach (var (name, list) in groups)
        {
            var units = list.OrderBy(u => u.Expert).Select(u => u.Unit).ToArray();
            var first = units[0];
            bool stacked = stackedFromPlain.Contains(name) || first.Source.Experts > 1;
            if (stacked)
            {
                for (int e = 0; e < list.Count; e++)
                {
                    if (list.OrderBy(u => u.Expert).ElementAt(e).Expert != e) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"'{name}' stacks {list.Count} experts, but expert {e} is missing or repeated."));
                }
                var odd = units.FirstOrDefault(u => u.OutRows != first.OutRows || u.Source.Columns != first.Source.Columns || u.TypeName != first.TypeName);
                if (odd is not null)
                    throw new QuantFormatException($"The experts of '{name}' differ: {first.DisplayName} is {first.TypeName} [{first.OutRows}, {first.Source.Columns}], {odd.DisplayName} {odd.TypeName} [{odd.OutRows}, {odd.Source.Columns}]; a GGUF expert tensor has one shape and one type (give its experts one format).");
            }
            var type = GgufTensorType.Get(first.TypeName);
            long[] dims = stacked ? [first.Source.Columns, first.OutRows, units.Length] : [first.Source.Columns, first.OutRows];
            steps.Add((name, new LinearStep(name, units, null, type, dims)));
        }
        foreach (var t in residual) residualSteps.AddRange(GgufResidual(t, Place(t.Name), source.Kind));
        foreach (var r in residualSteps)
        {
            if (steps.Any(s => s.Name == r.OutputName)) throw new QuantFormatException($"Two checkpoint tensors map to the GGUF tensor '{r.OutputName}'.");
            steps.Add((r.OutputName, r));
        }
        foreach (var (name, _) in steps)
        {
            if (Encoding.UTF8.GetByteCount(name) > GgufLayout.MaxTensorNameBytes)
                throw new QuantFormatException($"The GGUF tensor name '{name}' is longer than the {GgufLayout.MaxTensorNameBytes} bytes llama.cpp accepts.");
        }
        var ordered = steps.OrderBy(s => s.Name, ModelOrderComparer.Instance).Select(s => s.Step).ToArray();
        bool quantized = ordered.OfType<LinearStep>().Any(s => s.GgufType!.Format is { } f && f.Info.BlockSize > 1);
        var metadata = source.Kind == CheckpointKind.Gguf
            ? CopyMetadata(source.Gguf!.Metadata, options.Name, quantized)
            : architecture!.CreateMetadata(source.Config!.Value, Tokenizer(source, architecture, notes), options.Name, quantized);
        return new QuantizePlan(source, outputPath, QuantizeOutput.Gguf, ordered, linears, architecture, metadata, [], notes, options.MaxFileBytes);
    }

    private static QuantizeUnit GgufUnit(LinearWeight linear, int? expert, GgufPlacement place, Isq.IsqRules rules, CheckpointQuantizerOptions options, List<string> notes)
    {
        int n = place.Rows == RowSelection.All ? linear.Rows : linear.Rows / 2, k = linear.Columns;
        if (place.Rows != RowSelection.All && linear.Rows % 2 != 0) throw new QuantFormatException($"'{linear.Name}' has {linear.Rows} rows; interleaved gate and up rows come in pairs.");
        long Bytes(GgufTensorType type) => type.ByteCount([k, n]);
        var target = rules.Resolve(linear.Name);
        if (linear.IsMxfp4 && (!options.RequantizeMxfp4 || target is null))
        {
            var type = GgufTensorType.Get("mxfp4_ggml");
            return new QuantizeUnit(linear, expert, place.Rows, 0, UnitTreatment.KeepMxfp4, type.Name, null, null, false, Bytes(type), null);
        }
        string? note = null;
        if (target is { } t)
        {
            var type = GgufTensorType.Get(t.Format);
            if (k % type.BlockSize == 0) return new QuantizeUnit(linear, expert, place.Rows, place.PermuteHeads, UnitTreatment.Quantize, type.Name, type.Name, t.Rule, false, Bytes(type), null);
            // llama-quantize's fallback for rows its K-quants cannot hold, else F16, which holds any row exactly.
            var fallback = FallbackFormat(type.Name) is { } f && k % GgufTensorType.Get(f).BlockSize == 0 ? GgufTensorType.Get(f) : GgufTensorType.Get("f16");
            note = string.Create(CultureInfo.InvariantCulture, $"{k} columns are not a multiple of {type.Name}'s block of {type.BlockSize}: written as {fallback.Name}");
            Note(notes, $"{linear.Name}: {note}");
            return new QuantizeUnit(linear, expert, place.Rows, place.PermuteHeads, UnitTreatment.Quantize, fallback.Name, fallback.Name, null, false, Bytes(fallback), note);
        }
        if (linear.IsMxfp4)
        {
            var type = GgufTensorType.Get("mxfp4_ggml");
            return new QuantizeUnit(linear, expert, place.Rows, 0, UnitTreatment.KeepMxfp4, type.Name, null, null, false, Bytes(type), null);
        }
        var w = linear.Weight!;
        var kept = w.GgufType ?? (w.DType switch
        {
            DType.F16 => GgufTensorType.Get("f16"),
            DType.BF16 => GgufTensorType.Get("bf16"),
            _ => GgufTensorType.F32,
        });
        return new QuantizeUnit(linear, expert, place.Rows, place.PermuteHeads, UnitTreatment.Keep, kept.Name, null, null, false, Bytes(kept), null);
    }

    private static IEnumerable<ResidualStep> GgufResidual(SourceTensor t, IReadOnlyList<GgufPlacement> places, CheckpointKind kind)
    {
        foreach (var place in places)
        {
            var shape = (int[])t.Shape.Clone();
            if (place.Rows != RowSelection.All)
            {
                if (shape.Length == 0 || shape[^1] % 2 != 0) throw new QuantFormatException($"'{t.Name}' {t.ShapeText} cannot be split into interleaved gate and up halves.");
                shape[^1] /= 2;
            }
            // A GGUF checkpoint keeps its tensors' types; a safetensors one writes F32 for everything but the token embedding,
            // as llama.cpp's converter does for norms, biases and the router.
            GgufTensorType type = kind == CheckpointKind.Gguf && place.Rows == RowSelection.All ? t.GgufType ?? GgufTensorType.F32
                : place.GgufName == "token_embd.weight" && place.Rows == RowSelection.All ? t.DType switch
                {
                    DType.F16 => GgufTensorType.Get("f16"),
                    DType.BF16 => GgufTensorType.Get("bf16"),
                    _ => GgufTensorType.F32,
                }
                : GgufTensorType.F32;
            if (type == GgufTensorType.F32 && t.DType is { } d && !t.IsFloat)
                throw new QuantFormatException($"'{t.Name}' is {d}; GGUF output writes only float tensors besides the quantized weights.");
            long[] dims = shape.Length == 0 ? [1] : Array.ConvertAll(shape.Reverse().ToArray(), x => (long)x);
            yield return new ResidualStep(t, place.GgufName, shape, null, type, place.Rows, type.ByteCount(dims));
        }
    }

    private static GgufTokenizer Tokenizer(CheckpointSource source, GgufArchitecture architecture, List<string> notes)
    {
        var config = source.Config!.Value;
        int vocab = config.TryGetProperty("vocab_size", out var v) && v.TryGetInt32(out int n) && n > 0 ? n
            : throw new QuantFormatException("config.json has no positive 'vocab_size', which llama.cpp needs.");
        uint? Id(string key)
        {
            if (!config.TryGetProperty(key, out var id)) return null;
            if (id.ValueKind == JsonValueKind.Array && id.GetArrayLength() > 0) id = id[0];
            return id.ValueKind == JsonValueKind.Number && id.TryGetUInt32(out uint u) && u < vocab ? u : null;
        }
        if (source.TokenizerJsonPath is { } path)
        {
            try
            {
                return HuggingFaceTokenizer.Read(path, vocab, architecture.ModelType, Id("bos_token_id"), Id("eos_token_id"));
            }
            catch (QuantFormatException e) when (vocab >= 258)
            {
                notes.Add($"tokenizer.json was not converted ({e.Message}); the GGUF has the byte-level fallback vocabulary instead.");
            }
        }
        else
        {
            notes.Add("the checkpoint has no tokenizer.json; the GGUF has a byte-level vocabulary (one token per byte) so that llama.cpp can load it.");
        }
        if (vocab < 258) throw new QuantFormatException(string.Create(CultureInfo.InvariantCulture, $"The model's vocabulary of {vocab} tokens is too small for the byte-level fallback tokenizer (258); add a tokenizer.json."));
        return GgufTokenizer.ByteLevel(vocab);
    }

    private static GgufMetadata CopyMetadata(GgufMetadata source, string? name, bool quantized)
    {
        var metadata = new GgufMetadata();
        foreach (var (key, value) in source)
        {
            // The alignment is the writer's; the file type and quantization version describe the old tensors.
            if (key is GgufLayout.AlignmentKey or "general.file_type" or "general.quantization_version") continue;
            metadata.Add(key, value);
        }
        if (name is not null) metadata.Set("general.name", name);
        if (quantized) metadata.Add("general.quantization_version", 2u);
        return metadata;
    }

    private static long EstimateValue(GgufValue value)
    {
        if (value.Type == GgufValueType.String) return Encoding.UTF8.GetByteCount(value.AsString()) + 8;
        if (value.Type != GgufValueType.Array) return 8;
        long total = 12;
        foreach (var element in value.AsArray().Elements()) total += EstimateValue(element);
        return total;
    }

    private static QuantFormatInfo Format(string name) => QuantFormatRegistry.Get(name).Info;

    // One note per layer, however many experts or placements it has.
    private static void Note(List<string> notes, string line)
    {
        if (!notes.Contains(line)) notes.Add(line);
    }
}
