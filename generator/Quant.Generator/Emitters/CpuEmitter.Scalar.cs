using System;
using System.Linq;
using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

partial class CpuEmitter
{
    partial class CpuWriter
    {
        // ---- packing ---------------------------------------------------------------------------

        private static string ReadPart(CodePartModel part, FieldModel f, string index) => part.Packing switch
        {
            PackingKind.Sliced => $"BitPacking.ReadSliced({FieldRef(f)}, {index}, {part.Bits}, {part.Stride})",
            PackingKind.SequentialHighFirst => $"BitPacking.ReadSequentialHighFirst({FieldRef(f)}, {index}, {part.Bits})",
            _ => $"BitPacking.ReadSequential({FieldRef(f)}, {index}, {part.Bits})",
        };

        private static string WritePart(CodePartModel part, FieldModel f, string index, string code) => part.Packing switch
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
            using (w.Block($"private static void UnpackCodes(Span<byte> codes, {PlaneParameters})"))
            {
                using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                {
                    var reads = _code.Parts.Select(part =>
                    {
                        string read = ReadPart(part, m.Fields[part.Field], "i");
                        return part.Shift == 0 ? read : $"({read} << {part.Shift})";
                    });
                    w.WriteLine($"codes[i] = (byte)({string.Join(" | ", reads)});");
                }
            }
            w.WriteLine();
            w.WriteLine("/// <summary>Writes the codes of one block into their fields (which the caller has cleared).</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine("[MethodImpl(MethodImplOptions.AggressiveInlining)]");
            using (w.Block($"private static void PackCodes(ReadOnlySpan<byte> codes, {PlaneParameters})"))
            {
                using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                {
                    w.WriteLine("int code = codes[i];");
                    foreach (var part in _code.Parts)
                    {
                        w.WriteLine(WritePart(part, m.Fields[part.Field], "i", part.Shift == 0 ? "code" : $"code >> {part.Shift}"));
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
            using (w.Block($"private static void DequantizeBlocksScalar(int blocks, ref float y, {PlaneParameters})"))
            {
                w.WriteLine("Span<byte> codes = stackalloc byte[BlockSize];");
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine($"UnpackCodes(codes, {PlaneArguments});");
                    w.WriteLine($"float d = {ReadScaleOrOne};");
                    if (m.Min is not null) w.WriteLine($"float min = {ReadMin};");
                    using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                    {
                        w.WriteLine($"Unsafe.Add(ref y, i) = {Reconstruct(ScalarValue("codes[i]"))};");
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
            using (w.Block($"private static float DotRowScalar(int blocks, ref float x, {PlaneParameters})"))
            {
                w.WriteLine("Span<byte> codes = stackalloc byte[BlockSize];");
                w.WriteLine("float sum = 0f;");
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine($"UnpackCodes(codes, {PlaneArguments});");
                    w.WriteLine("float blockSum = 0f;");
                    if (m.Min is not null) w.WriteLine("float xSum = 0f;");
                    using (w.Block("for (int i = 0; i < BlockSize; i++)"))
                    {
                        w.WriteLine($"blockSum += {ScalarValue("codes[i]")} * Unsafe.Add(ref x, i);");
                        if (m.Min is not null) w.WriteLine("xSum += Unsafe.Add(ref x, i);");
                    }
                    w.WriteLine(m.Min?.Mode switch
                    {
                        MinModeKind.Add => $"sum += blockSum * {ReadScaleOrOne} + xSum * {ReadMin};",
                        MinModeKind.ZeroPoint => $"sum += (blockSum - xSum * {ReadMin}) * {ReadScaleOrOne};",
                        _ => $"sum += blockSum * {ReadScaleOrOne};",
                    });
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
                    w.WriteLine($"destination.Plane{p}.Slice(0, blocks * Plane{p}BytesPerBlock).Clear();");
                }
                DeclarePlanes("destination", null);
                using (w.Block("switch (Info.ResolveRule(options.Rule))"))
                {
                    for (int r = 0; r < m.Rules.Count; r++)
                    {
                        w.WriteLine($"case {r}:");
                        using (w.Indent())
                        {
                            w.WriteLine($"Quantize{Pascal(m.Rules[r].Name)}(blocks, source, {PlaneArguments});");
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
            w.WriteLine($"/// <summary>Rule <c>{rule.Name}</c> ({rule.Kind}){(rule.Description is null ? "" : ": " + rule.Description.TrimEnd('.'))}.</summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block($"private static void Quantize{Pascal(rule.Name)}(int blocks, ReadOnlySpan<float> source, {PlaneParameters})"))
            {
                w.WriteLine("Span<byte> codes = stackalloc byte[BlockSize];");
                using (w.Block("for (int b = 0; b < blocks; b++)"))
                {
                    w.WriteLine("ReadOnlySpan<float> x = source.Slice(b * BlockSize, BlockSize);");
                    EmitRuleBody(rule.Kind);
                    w.WriteLine($"PackCodes(codes, {PlaneArguments});");
                    AdvancePlanes();
                }
            }
            w.WriteLine();
        }

        private void EmitRuleBody(RuleKind kind)
        {
            var scaleField = m.Fields[m.Scale!.Field];
            int mask = (1 << _code.Bits) - 1;
            switch (kind)
            {
                case RuleKind.SignedMax:
                {
                    int offset = _code.Offset;
                    w.WriteLine($"// d = max / -{offset}, with max the element of largest magnitude; codes truncate x / d + {offset}.5.");
                    w.WriteLine("float max = QuantMath.SignedMax(x, out _);");
                    w.WriteLine($"float d = max / -{offset}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(WriteScalar(scaleField, m.Scale.Code, "d"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Min({mask}, (int)(x[i] * id + {offset}.5f));");
                    break;
                }
                case RuleKind.AbsMax:
                {
                    int qmax = (1 << (_code.Bits - 1)) - 1;
                    w.WriteLine($"// d = amax / {qmax}; codes round x / d half away from zero.");
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    w.WriteLine($"float d = amax / {qmax}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(WriteScalar(scaleField, m.Scale.Code, "d"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)((int)QuantMath.RoundHalfAway(x[i] * id) & {mask});");
                    break;
                }
                case RuleKind.MinMax:
                {
                    w.WriteLine($"// d = (max - min) / {mask}, m = min; codes truncate (x - min) / d + 0.5.");
                    w.WriteLine("QuantMath.MinMax(x, out float min, out float max);");
                    w.WriteLine($"float d = (max - min) / {mask}f;");
                    w.WriteLine("float id = d != 0f ? 1f / d : 0f;");
                    w.WriteLine(WriteScalar(scaleField, m.Scale.Code, "d"));
                    w.WriteLine(WriteScalar(m.Fields[m.Min!.Field], m.Min.Code, "min"));
                    w.WriteLine($"for (int i = 0; i < BlockSize; i++) codes[i] = (byte)Math.Min({mask}, (int)((x[i] - min) * id + 0.5f));");
                    break;
                }
                case RuleKind.SharedExponent:
                {
                    int emax = ElementMaxExponent();
                    w.WriteLine($"// e = floor(log2(amax)) - {emax} + 127 (the OCP MX rule; 0 for an all-zero block); each element takes the nearest code, the lowest index on a tie.");
                    w.WriteLine("float amax = QuantMath.AbsMax(x);");
                    w.WriteLine($"byte e = amax > 0f ? unchecked((byte)(int)(MathF.Floor(MathF.Log2(amax)) - {emax}f + 127f)) : (byte)0;");
                    w.WriteLine($"{FieldByte(scaleField)} = e;");
                    w.WriteLine($"float d = {ReadScale};");
                    w.WriteLine("for (int i = 0; i < BlockSize; i++) codes[i] = (byte)QuantMath.NearestIndex(s_codeValues, d, x[i]);");
                    break;
                }
                case RuleKind.SharedExponentMistralRs:
                {
                    float largest = _code.Table.Max(Math.Abs);
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
                    w.WriteLine($"int center = amax > 0f ? (int)(MathF.Floor(MathF.Log2(amax)) - {emax}f + 127f) : 0;");
                    w.WriteLine($"{FieldByte(scaleField)} = QuantMath.SearchSharedExponent(x, s_codeValues, {(m.FoldsFactorIntoScale ? -K : 0)}, center, codes);");
                    break;
                }
                default:
                    throw new NotSupportedException($"rule {kind}");
            }
        }

        /// <summary>The exponent of the largest element value: floor(log2(max |value|)).</summary>
        private int ElementMaxExponent() => (int)Math.Floor(Math.Log(_code.Table.Max(Math.Abs), 2));
    }
}
