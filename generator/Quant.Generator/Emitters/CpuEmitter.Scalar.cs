using System;
using System.Collections.Generic;
using System.Linq;
using Quant.Generator.Helpers;
using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

partial class CpuEmitter
{
    partial class CpuWriter
    {
        // ---- packing ---------------------------------------------------------------------------

        private static string ReadPart(CodePartModel part, FieldModel f, string index) => part.Bits == 16
            ? $"Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add({FieldRef(f)}, {index} * 2))"
            : part.Packing switch
        {
            PackingKind.Sliced => $"BitPacking.ReadSliced({FieldRef(f)}, {index}, {part.Bits}, {part.Stride})",
            PackingKind.SequentialHighFirst => $"BitPacking.ReadSequentialHighFirst({FieldRef(f)}, {index}, {part.Bits})",
            _ => $"BitPacking.ReadSequential({FieldRef(f)}, {index}, {part.Bits})",
        };

        private static string WritePart(CodePartModel part, FieldModel f, string index, string code) => part.Bits == 16
            ? $"Unsafe.WriteUnaligned(ref Unsafe.Add({FieldRef(f)}, {index} * 2), (ushort){code});"
            : part.Packing switch
        {
            PackingKind.Sliced => $"BitPacking.WriteSliced({FieldRef(f)}, {index}, {part.Bits}, {part.Stride}, {code});",
            PackingKind.SequentialHighFirst => $"BitPacking.WriteSequentialHighFirst({FieldRef(f)}, {index}, {part.Bits}, {code});",
            _ => $"BitPacking.WriteSequential({FieldRef(f)}, {index}, {part.Bits}, {code});",
        };

        private void EmitUnpackAndPack()
        {
            w.WriteLine("/// <summary>Reads the codes of one block, in element order (the scalar paths' view of the packing).</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
            using (w.Block($"private static void UnpackCodes(Span<{CodeType}> codes, {PlaneParameters})"))
            {
                using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                {
                    w.WriteLine($"codes[i] = ({CodeType})({ReadParts(_code.Parts, "i")});");
                }
            }
            w.WriteLine();
            w.WriteLine("/// <summary>Writes the codes of one block into their fields (which the caller has cleared).</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
            using (w.Block($"private static void PackCodes(ReadOnlySpan<{CodeType}> codes, {PlaneParameters})"))
            {
                using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                {
                    w.WriteLine("int code = codes[i];");
                    WriteParts(_code.Parts, "i", "code");
                }
            }
            w.WriteLine();
            if (Sub is not null) EmitSubScalePacking();
        }

        private string ReadParts(EquatableArray<CodePartModel> parts, string index) => string.Join(" | ", parts.Select(part =>
        {
            string read = ReadPart(part, m.Fields[part.Field], index);
            return part.Shift == 0 ? read : $"({read} << {part.Shift})";
        }));

        private void WriteParts(EquatableArray<CodePartModel> parts, string index, string code)
        {
            foreach (var part in parts)
            {
                w.WriteLine(WritePart(part, m.Fields[part.Field], index, part.Shift == 0 ? code : $"{code} >> {part.Shift}"));
            }
        }

        private void EmitSubScalePacking()
        {
            var sub = Sub!;
            var field = m.Fields[sub.Field];
            int count = sub.Count;
            w.WriteLine($"/// <summary>Reads the {count} sub-scale codes{(sub.WithMins ? $" and {count} sub-min codes" : "")} of one block.</summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block($"private static void UnpackSubScales(Span<byte> scales, Span<byte> mins, {PlaneParameters})"))
            {
                if (sub.Unpack is not null)
                {
                    w.WriteLine("// The declaration's own method: the vocabulary cannot say this packing.");
                    w.WriteLine($"{sub.Unpack}(MemoryMarshal.CreateReadOnlySpan({FieldRef(field)}, {field.Size}), scales, mins);");
                }
                else
                {
                    using (w.Block($"for (int j = 0; j < {count}; j++)"))
                    {
                        w.WriteLine($"scales[j] = (byte)({ReadParts(sub.Parts, "j")});");
                        if (sub.WithMins) w.WriteLine($"mins[j] = (byte)({ReadParts(sub.Parts, $"j + {count}")});");
                    }
                }
            }
            w.WriteLine();
            w.WriteLine("/// <summary>Writes the sub-scale codes of one block into their fields (which the caller has cleared).</summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block($"private static void PackSubScales(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, {PlaneParameters})"))
            {
                if (sub.Pack is not null)
                {
                    w.WriteLine($"{sub.Pack}(scales, mins, MemoryMarshal.CreateSpan({FieldRef(field)}, {field.Size}));");
                }
                else
                {
                    using (w.Block($"for (int j = 0; j < {count}; j++)"))
                    {
                        WriteParts(sub.Parts, "j", "scales[j]");
                        if (sub.WithMins) WriteParts(sub.Parts, $"j + {count}", "mins[j]");
                    }
                }
            }
            w.WriteLine();
        }

        // ---- scalar reference ------------------------------------------------------------------

        private void EmitScalarDequantize()
        {
            w.WriteLine("/// <summary>The scalar reference dequantizer: one element at a time, rounding exactly as the format's reference does.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine(OptimizeNow);
            using (w.Block($"private static void DequantizeBlocksScalar(int blocks, ref float y, {PlaneParameters})"))
            {
                DeclareTensorScale();
                w.WriteLine($"Span<{CodeType}> codes = stackalloc {CodeType}[BlockSize];");
                DeclareSubScaleBuffers();
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine($"UnpackCodes(codes, {PlaneArguments});");
                    DeclareBlockScalars();
                    if (Sub is null)
                    {
                        using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                        {
                            w.WriteLine($"Unsafe.Add(ref y, i) = {Reconstruct(ScalarValue("codes[i]"), "d", "")};");
                        }
                    }
                    else
                    {
                        using (w.Block($"for (int j = 0; j < {Groups}; j++)"))
                        {
                            w.WriteLine($"float dj = {GroupScale("j")};");
                            if (Sub.WithMins) w.WriteLine($"float mj = {GroupMin("j")};");
                            using (w.Block($"for (int i = j * {GroupSize}; i < (j + 1) * {GroupSize}; i++)"))
                            {
                                w.WriteLine($"Unsafe.Add(ref y, i) = {Reconstruct(ScalarValue("codes[i]"), "dj", "mj")};");
                            }
                        }
                    }
                    w.WriteLine("y = ref Unsafe.Add(ref y, BlockSize);");
                    AdvancePlanes();
                }
            }
            w.WriteLine();
        }

        private void EmitScalarDot()
        {
            w.WriteLine("/// <summary>The scalar reference of the fused row dot.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine(OptimizeNow);
            using (w.Block($"private static float DotRowScalar(int blocks, ref float x, {PlaneParameters})"))
            {
                DeclareTensorScale();
                w.WriteLine($"Span<{CodeType}> codes = stackalloc {CodeType}[BlockSize];");
                DeclareSubScaleBuffers();
                w.WriteLine("float sum = 0f;");
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine($"UnpackCodes(codes, {PlaneArguments});");
                    DeclareBlockScalars();
                    using (w.Block($"for (int j = 0; j < {Groups}; j++)"))
                    {
                        w.WriteLine("float groupSum = 0f;");
                        if (m.Min is not null)
                        {
                            // With a min, each weight is rebuilt before the multiply: d * sum(v x) + m * sum(x) would
                            // cancel where the min and the scaled codes nearly meet.
                            w.WriteLine($"float dj = {GroupScale("j")};");
                            if (Sub?.WithMins == true) w.WriteLine($"float mj = {GroupMin("j")};");
                            using (w.Block($"for (int i = j * {GroupSize}; i < (j + 1) * {GroupSize}; i++)"))
                            {
                                w.WriteLine($"groupSum += ({Reconstruct(ScalarValue("codes[i]"), "dj", "mj")}) * Unsafe.Add(ref x, i);");
                            }
                            w.WriteLine("sum += groupSum;");
                        }
                        else
                        {
                            using (w.Block($"for (int i = j * {GroupSize}; i < (j + 1) * {GroupSize}; i++)"))
                            {
                                w.WriteLine($"groupSum += {ScalarValue("codes[i]")} * Unsafe.Add(ref x, i);");
                            }
                            w.WriteLine(!HasScale ? "sum += groupSum;" : $"sum += groupSum * ({GroupScale("j")});");
                        }
                    }
                    w.WriteLine("x = ref Unsafe.Add(ref x, BlockSize);");
                    AdvancePlanes();
                }
                w.WriteLine("return sum;");
            }
            w.WriteLine();
        }

        private string ReadScaleOrOne => m.Scale is null ? "1f" : ReadScale;

        // ---- quantization ----------------------------------------------------------------------

        private void EmitQuantize()
        {
            w.WriteLine($"/// <summary>");
            w.WriteLine($"/// Quantizes one row to <c>{m.Name}</c> with the rule <paramref name=\"options\"/> names (default: <c>{m.Rules.First(r => r.IsDefault).Name}</c>).");
            w.WriteLine($"/// </summary>");
            w.WriteLine($"/// <exception cref=\"global::Quant.QuantFormatException\">The row length is not a whole number of blocks.</exception>");
            w.WriteLine($"/// <exception cref=\"global::System.ArgumentException\">The source length or a plane does not fit the row.</exception>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static void QuantizeRow(global::System.ReadOnlySpan<float> source, in global::Quant.QuantRowWriter destination, in global::Quant.QuantizeOptions options)"))
            {
                w.WriteLine("int blocks = global::Quant.QuantRowChecks.Writer(in destination, Info, source.Length);");
                for (int p = 0; p < m.Planes.Count; p++)
                {
                    // Tensor and tile planes were written by QuantizeTensorPlanes and are shared by several rows.
                    if (!m.Planes[p].Shared) w.WriteLine($"destination.Plane{p}.Slice(0, blocks * Plane{p}BytesPerBlock).Clear();");
                }
                DeclarePlanes("destination", null);
                using (w.Block("if (!options.Importance.IsEmpty && options.Importance.Length != source.Length)"))
                {
                    w.WriteLine("throw new global::System.ArgumentException($\"The importance row holds {options.Importance.Length} floats for a row of {source.Length}.\", nameof(options));");
                }
                using (w.Block("switch (Info.ResolveRule(options.Rule))"))
                {
                    for (int r = 0; r < m.Rules.Count; r++)
                    {
                        w.WriteLine($"case {r}:");
                        using (w.Indent())
                        {
                            w.WriteLine($"Quantize{Pascal(m.Rules[r].Name)}(blocks, source, options.Importance, {PlaneArguments});");
                            w.WriteLine("break;");
                        }
                    }
                    w.WriteLine("default:");
                    w.WriteLine("    throw new global::System.ArgumentOutOfRangeException(nameof(options), $\"Rule {options.Rule} is not a rule of this format.\");");
                }
            }
            w.WriteLine();
            foreach (var rule in m.Rules) EmitRule(rule);
        }

        private static string Pascal(string name) =>
            string.Concat(name.Split('_').Where(s => s.Length > 0).Select(s => char.ToUpperInvariant(s[0]) + s.Substring(1)));

        private void EmitRule(RuleModel rule)
        {
            if (rule.Kind == RuleKind.ErrorMinimizing && m.Scale?.Code != ScaleCodeKind.E8M0)
            {
                EmitErrorMinimizingRule(rule, m.Rules.First(r => r.IsDefault));
                return;
            }
            w.WriteLine($"/// <summary>Rule <c>{rule.Name}</c> ({rule.Kind}){(rule.Description is null ? "" : ": " + Xml(rule.Description).TrimEnd('.'))}.</summary>");
            w.WriteLine(GeneratedCode);
            bool usesImportance = rule.Kind is RuleKind.GgmlKQuant or RuleKind.GgmlIq4
                || (rule.Kind is RuleKind.SignedMax or RuleKind.MinMax && m.Code.Kind == ElementKind.Integer && m.BlockSize == 32 && m.Code.Bits is 4 or 5);
            w.WriteLine(OptimizeNow);
            using (w.Block($"private static void Quantize{Pascal(rule.Name)}(int blocks, ReadOnlySpan<float> source, ReadOnlySpan<float> importance, {PlaneParameters})"))
            {
                DeclareTensorScale();
                w.WriteLine($"Span<{CodeType}> codes = stackalloc {CodeType}[BlockSize];");
                DeclareSubScaleBuffers();
                if (usesImportance && rule.Kind is RuleKind.SignedMax or RuleKind.MinMax)
                {
                    w.WriteLine("// With an importance matrix ggml weighs each element by imatrix * sqrt(sigma2 + x^2), sigma2 the row's mean square.");
                    w.WriteLine("float rowSigma2 = importance.IsEmpty ? 0f : global::Quant.Quantization.GgmlLegacy.RowSigma2(source);");
                }
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine("ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);");
                    if (usesImportance) w.WriteLine("ReadOnlySpan<float> weights = importance.IsEmpty ? default : importance.Slice(b * BlockSize, BlockSize);");
                    EmitRuleBody(rule, usesImportance);
                    EmitDerivedFields();
                    if (Sub is not null && rule.Kind is RuleKind.GgmlKQuant or RuleKind.GgmlIq4) w.WriteLine($"PackSubScales(scales, mins, {PlaneArguments});");
                    w.WriteLine($"PackCodes(codes, {PlaneArguments});");
                    AdvancePlanes();
                }
            }
            w.WriteLine();
        }

        private void EmitSharedExponentCodes(RuleModel rule)
        {
            if (rule.Rounding == RoundingKind.NearestLowestCode)
            {
                w.WriteLine("// Each element takes the nearest code; on a tie the lowest code index (ggml's best_index_mxfp4).");
                w.WriteLine($"float d = {ReadScale};");
                w.WriteLine("for (int i = 0; i < BlockSize; i++) codes[i] = (byte)QuantMath.NearestIndex(s_codeValues, d, x[i]);");
            }
            else
            {
                w.WriteLine("// Each element divided by the scale (an exact power of two) rounds to nearest, ties to even, saturating.");
                w.WriteLine("float inverse = E8M0.ToSingle((byte)(254 - e));");
                w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = ({CodeType})Minifloat.Encode<Element>(x[i] * inverse, MinifloatOverflow.Saturate);");
            }
        }

        /// <summary>Fields derived from the codes after the rule: q8_1's scaled block sum, q8_K's int16 group sums.</summary>
        private void EmitDerivedFields()
        {
            string value = _code.Signed ? (_code.Bits == 8 ? "(sbyte)codes[i]" : $"((codes[i] ^ {1 << (_code.Bits - 1)}) - {1 << (_code.Bits - 1)})")
                : _code.Offset == 0 ? "codes[i]" : $"(codes[i] - {_code.Offset})";
            if (m.BlockSum is not null)
            {
                w.WriteLine("// The block sum is d times the sum of the values, with d before it was rounded for storage.");
                w.WriteLine("int sum = 0;");
                w.WriteLine($"for (int i = 0; i < BlockSize; i++) sum += {value};");
                w.WriteLine(WriteScalar(m.Fields[m.BlockSum.Field], m.BlockSum.Code, "d * sum"));
            }
            if (m.GroupSums is not null)
            {
                var field = m.Fields[m.GroupSums.Field];
                int elements = m.GroupSums.Elements;
                using (w.Block($"for (int g = 0; g < {m.BlockSize / elements}; g++)"))
                {
                    w.WriteLine("int sum = 0;");
                    w.WriteLine($"for (int i = g * {elements}; i < (g + 1) * {elements}; i++) sum += {value};");
                    w.WriteLine($"Unsafe.WriteUnaligned(ref Unsafe.Add({FieldRef(field)}, 2 * g), (short)sum);");
                }
            }
        }

        private void EmitRuleBody(RuleModel rule, bool usesImportance, string weightsName = "weights")
        {
            RuleKind kind = rule.Kind;
            var scaleField = m.Scale is null ? null! : m.Fields[m.Scale.Field];
            int mask = (1 << _code.Bits) - 1;
            switch (kind)
            {
                case RuleKind.SignedMax:
                {
                    int offset = _code.Offset;
                    if (usesImportance)
                    {
                        using (w.Block("if (!weights.IsEmpty)"))
                        {
                            w.WriteLine($"global::Quant.Quantization.GgmlLegacy.QuantizeSignedMaxWeighted(x, weights, rowSigma2, {_code.Bits}, codes, out float weighted);");
                            w.WriteLine(WriteScale("weighted"));
                        }
                        w.WriteLine("else");
                        w.WriteLine("{");
                    }
                    w.WriteLine($"// d = max / -{offset}, with max the element of largest magnitude; codes truncate x / d + {offset}.5.");
                    w.WriteLine("float max = QuantMath.SignedMax(x, out _);");
                    w.WriteLine($"float d = max / -{offset}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(WriteScale("d"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Min({mask}, (int)(x[i] * id + {offset}.5f));");
                    if (usesImportance) w.WriteLine("}");
                    break;
                }
                case RuleKind.AbsMax when _code.Kind == ElementKind.Integer:
                {
                    int qmax = (1 << (_code.Bits - 1)) - 1;
                    w.WriteLine($"// d = amax / {qmax}; codes round x / d half away from zero.");
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    w.WriteLine($"float d = amax / {qmax}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(WriteScale("d"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)((int)QuantMath.RoundHalfAway(x[i] * id) & {mask});");
                    break;
                }
                case RuleKind.AbsMax:
                {
                    float largest = LargestFinite;
                    w.WriteLine($"// The block's largest magnitude maps to the largest code ({Float(largest)}); elements round to the nearest code.");
                    if (m.Tiled)
                    {
                        w.WriteLine("// The tile's scale was written from the whole tile by QuantizeTensorPlanes; the row's elements round with it.");
                        w.WriteLine($"float d = {ReadScale};");
                        w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                        w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = ({CodeType})Minifloat.Encode<Element>(x[i] * id, MinifloatOverflow.Saturate);");
                        break;
                    }
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    if (m.TensorScale is not null)
                    {
                        w.WriteLine("// The block scale is stored relative to the tensor scale, rounded to its code; elements use the rounded value.");
                        w.WriteLine(WriteScale($"(tensorScale != 0f ? amax / {Float(largest)} / tensorScale : 0f)"));
                    }
                    else
                    {
                        w.WriteLine(WriteScale($"(amax / {Float(largest)})"));
                    }
                    w.WriteLine($"float d = {ReadScale}{(m.TensorScale is null ? "" : " * tensorScale")};");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    if (_code.Kind == ElementKind.Minifloat)
                    {
                        w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = ({CodeType})Minifloat.Encode<Element>(x[i] * id, MinifloatOverflow.Saturate);");
                    }
                    else if (SignMagnitude)
                    {
                        int half = 1 << (_code.Bits - 1);
                        using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                        {
                            w.WriteLine("float v = x[i] * id;");
                            w.WriteLine("int magnitude = QuantMath.NearestByMidpoints(MathF.Abs(v), s_midpoints, s_midpointCodes);");
                            w.WriteLine($"codes[i] = (byte)(v < 0f ? magnitude | {half} : magnitude);");
                        }
                    }
                    else
                    {
                        w.WriteLine("for (int i = 0; i < BlockSize; i++) codes[i] = (byte)QuantMath.NearestByMidpoints(x[i] * id, s_midpoints, s_midpointCodes);");
                    }
                    break;
                }
                case RuleKind.MinMax:
                {
                    if (usesImportance)
                    {
                        using (w.Block("if (!weights.IsEmpty)"))
                        {
                            w.WriteLine($"global::Quant.Quantization.GgmlLegacy.QuantizeMinMaxWeighted(x, weights, rowSigma2, {_code.Bits}, codes, out float weighted, out float weightedMin);");
                            w.WriteLine(WriteScale("weighted"));
                            w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "weightedMin"));
                        }
                        w.WriteLine("else");
                        w.WriteLine("{");
                    }
                    w.WriteLine($"// d = (max - min) / {mask}, m = min; codes truncate (x - min) / d + 0.5.");
                    w.WriteLine("QuantMath.MinMax(x, out float min, out float max);");
                    w.WriteLine($"float d = (max - min) / {mask}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(WriteScale("d"));
                    w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "min"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Min({mask}, (int)((x[i] - min) * id + 0.5f));");
                    if (usesImportance) w.WriteLine("}");
                    break;
                }
                case RuleKind.ZeroPointMinMax:
                {
                    w.WriteLine($"// d = (max - min) / {mask}, z = -min / d{(rule.RoundZeroPoint ? " rounded to an integer" : "")}; codes round x / d + z, so that y = (q - z) * d.");
                    w.WriteLine("QuantMath.MinMax(x, out float low, out float high);");
                    if (rule.RoundZeroPoint)
                    {
                        w.WriteLine($"// GPTQ's range always holds 0, so the integer zero point stays a code in [0, {mask}].");
                        w.WriteLine("low = MathF.Min(low, 0f);");
                        w.WriteLine("high = MathF.Max(high, 0f);");
                    }
                    w.WriteLine($"float d = (high - low) / {mask}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(rule.RoundZeroPoint ? "float zero = MathF.Round(-low * id);" : "float zero = -low * id;");
                    w.WriteLine(WriteScale("d"));
                    w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "zero"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Clamp(MathF.Round(x[i] * id + zero), 0f, {mask}f);");
                    break;
                }
                case RuleKind.HalfQuadratic:
                {
                    w.WriteLine($"// HQQ as mistral.rs runs it: the min/max zero point{(rule.RoundZeroPoint ? " rounded to an integer" : "")}, then {rule.Steps} half-quadratic proximal steps on it; y = (q - zero) * d.");
                    w.WriteLine($"global::Quant.Quantization.Hqq.QuantizeGroup(x, {_code.Bits}, {rule.Steps}, {(rule.RoundZeroPoint ? "true" : "false")}, codes, out float d, out float zero);");
                    w.WriteLine(WriteScale("d"));
                    w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "zero"));
                    break;
                }
                case RuleKind.Affine:
                {
                    w.WriteLine("// MLX's affine rule: the extreme of larger magnitude (the edge) is made exactly representable and becomes the bias.");
                    w.WriteLine("QuantMath.MinMax(x, out float low, out float high);");
                    w.WriteLine("bool lowEdge = MathF.Abs(low) > MathF.Abs(high);");
                    w.WriteLine($"float d = MathF.Max((high - low) / {mask}f, 1e-7f);");
                    w.WriteLine("if (!lowEdge) d = -d;");
                    w.WriteLine("float edge = lowEdge ? low : high;");
                    w.WriteLine("float q0 = MathF.Round(edge / d, MidpointRounding.ToEven);");
                    w.WriteLine("if (q0 != 0f) d = edge / q0;");
                    w.WriteLine("float min = q0 == 0f ? 0f : edge;");
                    w.WriteLine(WriteScale("d"));
                    w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "min"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Clamp(MathF.Round((x[i] - min) / d, MidpointRounding.ToEven), 0f, {mask}f);");
                    break;
                }
                case RuleKind.GgmlKQuant:
                case RuleKind.GgmlIq4:
                case RuleKind.ReciprocalSignedMax:
                {
                    string variant = QuantFormatGenerator.Parser.Reader.GgmlVariant(kind, _code, m.Scale, m.Min, Sub, m.BlockSize, m.SubBlockSize)!;
                    string call = variant switch
                    {
                        "Q2K" or "Q4K" or "Q5K" => $"global::Quant.Quantization.GgmlKQuants.Quantize{variant}(x, {weightsName}, codes, scales, mins, out float d, out float dmin);",
                        "Q3K" => $"global::Quant.Quantization.GgmlKQuants.QuantizeQ3K(x, {weightsName}, codes, scales, out float d);",
                        "Q6K" => $"global::Quant.Quantization.GgmlKQuants.QuantizeQ6K(x, {weightsName}, codes, MemoryMarshal.Cast<byte, sbyte>(scales), out float d);",
                        "Q8K" => "global::Quant.Quantization.GgmlKQuants.QuantizeQ8K(x, MemoryMarshal.Cast<byte, sbyte>(codes), out float d);",
                        "Iq4Nl" => $"global::Quant.Quantization.GgmlIq4.QuantizeIq4Nl(x, {weightsName}, codes, out float d);",
                        _ => $"global::Quant.Quantization.GgmlIq4.QuantizeIq4Xs(x, {weightsName}, codes, scales, out float d);",
                    };
                    w.WriteLine($"// ggml's {variant switch { "Iq4Nl" => "iq4_nl", "Iq4Xs" => "iq4_xs", _ => variant.Substring(0, 2).ToLowerInvariant() + "_K" }} search (its weighted variant when an importance row is given), bit for bit.");
                    w.WriteLine(call);
                    w.WriteLine(WriteScale("d"));
                    if (call.Contains("dmin")) w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "dmin"));
                    break;
                }
                case RuleKind.SharedExponent:
                {
                    int emax = ElementMaxExponent();
                    w.WriteLine($"// e = floor(log2(amax)) - {emax} + 127 (the OCP MX shared exponent; 0 for an all-zero block).");
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    if (rule.Rounding == RoundingKind.NearestLowestCode)
                    {
                        w.WriteLine("// As ggml computes it: floorf(log2f(amax)), whose rounded log2 is one too high for an amax just below a power of two.");
                        w.WriteLine($"byte e = amax > 0f ? unchecked((byte)(int)(MathF.Floor(MathF.Log2(amax)) - {emax}f + 127f)) : (byte)0;");
                    }
                    else
                    {
                        w.WriteLine("// ILogB is the exact floor(log2(amax)), subnormals included.");
                        w.WriteLine($"byte e = amax > 0f ? (byte)Math.Clamp(MathF.ILogB(amax) - {emax} + 127, 0, 254) : (byte)0;");
                    }
                    w.WriteLine($"{FieldByte(scaleField)} = e;");
                    EmitSharedExponentCodes(rule);
                    break;
                }
                case RuleKind.SharedExponentMistralRs:
                {
                    float largest = LargestFinite;
                    int signBit = 1 << (_code.Bits - 1);
                    w.WriteLine($"// e = floor(log2(amax / {Float(largest)})) + 127 clamped to [0, 254], 127 for an all-zero block (mistral.rs);");
                    w.WriteLine("// magnitudes round at the midpoints, ties away from zero; the sign bit is set for x < 0.");
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    w.WriteLine($"byte e = amax == 0f ? (byte)127 : (byte)Math.Clamp(QuantMath.FloorLog2(amax / {Float(largest)}) + 127, 0, 254);");
                    w.WriteLine($"{FieldByte(scaleField)} = e;");
                    w.WriteLine("float scale = E8M0.ToSingle(e);");
                    w.WriteLine("float inverse = scale == 0f ? 0f : 1f / scale;");
                    using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                    {
                        w.WriteLine("float v = x[i] * inverse;");
                        w.WriteLine("int magnitude = QuantMath.MagnitudeIndexTiesUp(MathF.Abs(v), s_magnitudeMidpoints);");
                        w.WriteLine($"codes[i] = (byte)(v < 0f ? magnitude | {signBit} : magnitude);");
                    }
                    break;
                }
                case RuleKind.ErrorMinimizing:
                {
                    int emax = ElementMaxExponent();
                    w.WriteLine($"// Tries the OCP exponent and its two neighbours and keeps the least squared error (never worse than the OCP rule).");
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    w.WriteLine($"int center = amax > 0f ? Math.Clamp(MathF.ILogB(amax) - {emax} + 127, 0, 254) : 0;");
                    w.WriteLine(rule.Rounding == RoundingKind.NearestLowestCode
                        ? $"{FieldByte(scaleField)} = QuantMath.SearchSharedExponent(x, s_codeValues, {(m.FoldsFactorIntoScale ? -K : 0)}, center, codes);"
                        : $"{FieldByte(scaleField)} = QuantMath.SearchSharedExponent<Element>(x, center, codes);");
                    break;
                }
                case RuleKind.RoundToNearest:
                {
                    string element = "x[i]";
                    if (m.TensorScale is not null)
                    {
                        w.WriteLine("// Each element over the tensor scale rounds to the nearest code, ties to even.");
                        w.WriteLine("float inverse = tensorScale != 0f ? 1f / tensorScale : 0f;");
                        element = "x[i] * inverse";
                    }
                    else
                    {
                        w.WriteLine("// Each element rounds to the nearest code on its own, ties to even.");
                    }
                    string encode = (_code.ExponentBits, _code.MantissaBits) switch
                    {
                        (5, 10) when _code.Specials == MinifloatSpecialsKind.Ieee && m.TensorScale is null => "Fp16.FromSingle(x[i])",
                        (8, 7) when _code.Specials == MinifloatSpecialsKind.Ieee && m.TensorScale is null => "Bf16.FromSingle(x[i])",
                        _ => $"Minifloat.Encode<Element>({element}, MinifloatOverflow.{rule.Overflow})",
                    };
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = ({CodeType}){encode};");
                    break;
                }
                default:
                    throw new NotSupportedException($"rule {kind}");
            }
        }

        /// <summary>
        /// The error-minimising rule of a format with a block scale: each block starts from the default rule, then
        /// least-squares refits of its scale (and min) from the current codes, each followed by re-rounding the
        /// codes with the stored values, are kept only while they lower the block's squared error, measured on
        /// the block's exact dequantization. Super-blocks also try ggml's weighted search with unit weights. The
        /// result is never worse than the default rule on any block.
        /// </summary>
        private void EmitErrorMinimizingRule(RuleModel rule, RuleModel baseRule)
        {
            bool family = baseRule.Kind is RuleKind.GgmlKQuant or RuleKind.GgmlIq4;
            bool refit = Sub is null && m.Scale is not null;
            bool usesImportance = family || (baseRule.Kind is RuleKind.SignedMax or RuleKind.MinMax && m.Code.Kind == ElementKind.Integer && m.BlockSize == 32 && m.Code.Bits is 4 or 5);
            var perBlock = Enumerable.Range(0, m.Planes.Count).Where(p => !m.Planes[p].PerTensor).ToList();
            w.WriteLine($"/// <summary>Rule <c>{rule.Name}</c> (ErrorMinimizing): the default rule <c>{baseRule.Name}</c>, then {(family ? "ggml's weighted search with unit weights" : "least-squares refits")}, keeping the least squared error.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine(OptimizeNow);
            using (w.Block($"private static void Quantize{Pascal(rule.Name)}(int blocks, ReadOnlySpan<float> source, ReadOnlySpan<float> importance, {PlaneParameters})"))
            {
                DeclareTensorScale();
                w.WriteLine($"Span<{CodeType}> codes = stackalloc {CodeType}[BlockSize];");
                DeclareSubScaleBuffers();
                foreach (int p in perBlock) w.WriteLine($"Span<byte> best{p} = stackalloc byte[Plane{p}BytesPerBlock];");
                if (family) w.WriteLine("Span<float> ones = stackalloc float[BlockSize];");
                if (family) w.WriteLine("ones.Fill(1f);");
                if (usesImportance && baseRule.Kind is RuleKind.SignedMax or RuleKind.MinMax)
                {
                    w.WriteLine("float rowSigma2 = importance.IsEmpty ? 0f : global::Quant.Quantization.GgmlLegacy.RowSigma2(source);");
                }
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine("ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);");
                    if (usesImportance) w.WriteLine("ReadOnlySpan<float> weights = importance.IsEmpty ? default : importance.Slice(b * BlockSize, BlockSize);");
                    w.WriteLine($"// The default rule, {baseRule.Name}.");
                    using (w.Block())
                    {
                        EmitRuleBody(baseRule, usesImportance);
                        EmitDerivedFields();
                        if (Sub is not null && baseRule.Kind is RuleKind.GgmlKQuant or RuleKind.GgmlIq4) w.WriteLine($"PackSubScales(scales, mins, {PlaneArguments});");
                        w.WriteLine($"PackCodes(codes, {PlaneArguments});");
                    }
                    w.WriteLine($"double bestError = BlockError(x, {PlaneArguments});");
                    foreach (int p in perBlock) w.WriteLine($"MemoryMarshal.CreateReadOnlySpan(ref p{p}, Plane{p}BytesPerBlock).CopyTo(best{p});");
                    if (family)
                    {
                        w.WriteLine("// ggml's weighted search with unit weights: least squares on the elements themselves.");
                        using (w.Block())
                        {
                            ClearBlock(perBlock);
                            w.WriteLine("ReadOnlySpan<float> unitWeights = ones;");
                            EmitRuleBody(baseRule, usesImportance: true, weightsName: "unitWeights");
                            EmitDerivedFields();
                            if (Sub is not null) w.WriteLine($"PackSubScales(scales, mins, {PlaneArguments});");
                            w.WriteLine($"PackCodes(codes, {PlaneArguments});");
                            KeepIfBetter(perBlock);
                        }
                    }
                    if (refit)
                    {
                        using (w.Block("for (int iteration = 0; iteration < 4; iteration++)"))
                        {
                            if (m.Min?.Mode == MinModeKind.ZeroPoint) EmitZeroPointRefit(perBlock, baseRule.RoundZeroPoint);
                            else EmitRefit(perBlock);
                            KeepIfBetter(perBlock);
                        }
                    }
                    foreach (int p in perBlock) w.WriteLine($"best{p}.CopyTo(MemoryMarshal.CreateSpan(ref p{p}, Plane{p}BytesPerBlock));");
                    AdvancePlanes();
                }
            }
            w.WriteLine();
            EmitBlockError();
        }

        private void ClearBlock(List<int> perBlock)
        {
            foreach (int p in perBlock) w.WriteLine($"MemoryMarshal.CreateSpan(ref p{p}, Plane{p}BytesPerBlock).Clear();");
        }

        private void KeepIfBetter(List<int> perBlock)
        {
            w.WriteLine($"double error = BlockError(x, {PlaneArguments});");
            using (w.Block("if (error < bestError)"))
            {
                w.WriteLine("bestError = error;");
                foreach (int p in perBlock) w.WriteLine($"MemoryMarshal.CreateReadOnlySpan(ref p{p}, Plane{p}BytesPerBlock).CopyTo(best{p});");
            }
        }

        /// <summary>One least-squares refit: the scale (and min) that best fit the current codes, stored, then the codes re-rounded with the stored values.</summary>
        private void EmitRefit(List<int> perBlock)
        {
            bool withMin = m.Min?.Mode == MinModeKind.Add;
            w.WriteLine($"// Least squares for the scale{(withMin ? " and min" : "")} given the codes, then codes re-rounded with the stored values.");
            w.WriteLine("double sv = 0, svv = 0, sx = 0, svx = 0;");
            using (w.Block("for (int i = 0; i < BlockSize; i++)"))
            {
                w.WriteLine($"double v = {ScalarValue("codes[i]")};");
                w.WriteLine("sv += v; svv += v * v; sx += x[i]; svx += v * x[i];");
            }
            if (withMin)
            {
                w.WriteLine("double det = BlockSize * svv - sv * sv;");
                w.WriteLine("if (!(det > 0)) break;");
                w.WriteLine("float fitScale = (float)((BlockSize * svx - sv * sx) / det);");
                w.WriteLine("float fitMin = (float)((svv * sx - sv * svx) / det);");
            }
            else
            {
                w.WriteLine("if (!(svv > 0)) break;");
                w.WriteLine("float fitScale = (float)(svx / svv);");
            }
            ClearBlock(perBlock);
            w.WriteLine(m.TensorScale is null ? WriteScale("fitScale") : WriteScale("(tensorScale != 0f ? fitScale / tensorScale : 0f)"));
            if (withMin) w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "fitMin"));
            w.WriteLine($"float d = {ReadScale}{(m.TensorScale is null ? "" : " * tensorScale")};");
            if (withMin) w.WriteLine($"float min = {ReadMin};");
            w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
            w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = {CodeFor(withMin ? "(x[i] - min) * id" : "x[i] * id")};");
            EmitDerivedFields();
            w.WriteLine($"PackCodes(codes, {PlaneArguments});");
        }

        /// <summary>
        /// One least-squares refit of a zero-point block (<c>y = (q - z) d</c>): the scale and offset that best fit the
        /// current codes give <c>z = -offset / d</c> (rounded to a code when the default rule rounds it), the scale is
        /// refitted for that zero point, both are stored, and the codes re-rounded with the stored values.
        /// </summary>
        private void EmitZeroPointRefit(List<int> perBlock, bool roundZero)
        {
            int mask = (1 << _code.Bits) - 1;
            w.WriteLine($"// Least squares for d and the offset -z d given the codes, z{(roundZero ? " rounded to a code" : "")}, d refitted for it, codes re-rounded.");
            w.WriteLine("double sv = 0, svv = 0, sx = 0, svx = 0;");
            using (w.Block("for (int i = 0; i < BlockSize; i++)"))
            {
                w.WriteLine("double v = codes[i];");
                w.WriteLine("sv += v; svv += v * v; sx += x[i]; svx += v * x[i];");
            }
            w.WriteLine("double det = BlockSize * svv - sv * sv;");
            w.WriteLine("if (!(det > 0)) break;");
            w.WriteLine("double slope = (BlockSize * svx - sv * sx) / det;");
            w.WriteLine("if (!(slope != 0)) break;");
            w.WriteLine("double offset = (svv * sx - sv * svx) / det;");
            w.WriteLine(roundZero ? $"double fitZero = Math.Clamp(Math.Round(-offset / slope), 0, {mask});" : "double fitZero = -offset / slope;");
            w.WriteLine("double sqq = 0, sqx = 0;");
            using (w.Block("for (int i = 0; i < BlockSize; i++)"))
            {
                w.WriteLine("double q = codes[i] - fitZero;");
                w.WriteLine("sqq += q * q; sqx += q * x[i];");
            }
            w.WriteLine("if (!(sqq > 0)) break;");
            ClearBlock(perBlock);
            w.WriteLine(WriteScale("(float)(sqx / sqq)"));
            w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "(float)fitZero"));
            w.WriteLine($"float d = {ReadScale};");
            w.WriteLine($"float zero = {ReadMin};");
            w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
            w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Clamp(MathF.Round(x[i] * id + zero), 0f, {mask}f);");
            EmitDerivedFields();
            w.WriteLine($"PackCodes(codes, {PlaneArguments});");
        }

        /// <summary>The code nearest to a value already divided by the scale.</summary>
        private string CodeFor(string scaled)
        {
            int mask = (1 << _code.Bits) - 1;
            if (_code.Kind == ElementKind.Minifloat) return $"({CodeType})Minifloat.Encode<Element>({scaled}, MinifloatOverflow.Saturate)";
            if (_code.Kind == ElementKind.Codebook)
            {
                return SignMagnitude
                    ? $"(byte)QuantMath.NearestSignMagnitude({scaled}, s_midpoints, s_midpointCodes, {1 << (_code.Bits - 1)})"
                    : $"(byte)QuantMath.NearestByMidpoints({scaled}, s_midpoints, s_midpointCodes)";
            }
            if (_code.Signed)
            {
                int half = 1 << (_code.Bits - 1);
                return $"(byte)((int)Math.Clamp(MathF.Round({scaled}), {-half}f, {half - 1}f) & {mask})";
            }
            return $"(byte)Math.Clamp(MathF.Round({scaled}) + {_code.Offset}f, 0f, {mask}f)";
        }

        /// <summary>The squared error of the block just written, from its exact dequantization.</summary>
        private void EmitBlockError()
        {
            w.WriteLine("/// <summary>The squared error of the block at the plane pointers against <paramref name=\"x\"/>, from its exact dequantization.</summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block($"private static double BlockError(ReadOnlySpan<float> x, {PlaneParameters})"))
            {
                w.WriteLine("Span<float> values = stackalloc float[BlockSize];");
                w.WriteLine($"DequantizeBlocksScalar(1, ref MemoryMarshal.GetReference(values), {PlaneArguments});");
                w.WriteLine("double error = 0;");
                using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                {
                    w.WriteLine("double difference = (double)values[i] - x[i];");
                    w.WriteLine("error += difference * difference;");
                }
                w.WriteLine("return error;");
            }
            w.WriteLine();
        }

        /// <summary>The exponent of the largest finite element value: floor(log2(max |value|)).</summary>
        private int ElementMaxExponent() => (int)Math.Floor(Math.Log(LargestFinite, 2));
    }
}
