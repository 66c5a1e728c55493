using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Quant.Generator.Helpers;
using Quant.Generator.Model;
using static Quant.Generator.Emitters.SourceFile;

namespace Quant.Generator.Emitters;

/// <summary>
/// Emits a format's CPU kernels from its model: quantize (one method per rule), and dequantize and the
/// fused row dot, each as a scalar reference and Vector128 / Vector256 / Vector512 paths. Only per-block
/// mathematics is generated; loops over rows, threads and batches live in the hand-written drivers.
/// </summary>
internal static partial class CpuEmitter
{
    public static string Emit(FormatModel m) => Qualify(Write(m, "CPU kernels", w => new CpuWriter(m, w).Emit()));

    /// <summary>Writes the kernels of one format; the pieces every path shares are its members.</summary>
    private sealed partial class CpuWriter(FormatModel m, IndentedTextWriter w)
    {
        private readonly CodeModel _code = m.Code;

        private int K => _code.IntLog2Factor;

        /// <summary>Codes of up to 8 bits that are not integers are evaluated through a table of every code's value.</summary>
        private bool UsesTable => _code.Kind != ElementKind.Integer && _code.Bits <= 8;

        /// <summary>The table's values are small integers times 2^-K: SIMD maps 16 codes with one byte shuffle.</summary>
        private bool IntTable => _code.Kind != ElementKind.Integer && K >= 0;

        /// <summary>A table of at most 16 floats that are not such integers (NF4): SIMD permutes floats.</summary>
        private bool FloatTable => _code.Kind != ElementKind.Integer && !IntTable && _code.Bits <= 4;

        /// <summary>Other minifloats (6, 8 and 16 bits) are decoded arithmetically in SIMD.</summary>
        private bool DecodesMinifloat => _code.Kind == ElementKind.Minifloat && !IntTable && !FloatTable;

        /// <summary>
        /// A codebook whose upper half is the lower half negated (bitsandbytes' FP4): it rounds magnitudes and
        /// takes the sign from the element, so that a positive element never gets a negative zero.
        /// </summary>
        private bool SignMagnitude
        {
            get
            {
                if (_code.Kind != ElementKind.Codebook || _code.Bits < 2) return false;
                int half = _code.Table.Count / 2;
                for (int c = 0; c < half; c++)
                {
                    if (!(_code.Table[c] >= 0) || _code.Table[c + half] != -_code.Table[c]) return false;
                }
                return true;
            }
        }

        /// <summary>The largest finite magnitude of the element values (infinities and NaN excluded).</summary>
        private float LargestFinite => _code.Table.Where(v => !float.IsNaN(v) && !float.IsInfinity(v)).Max(Math.Abs);

        /// <summary>The type of one unpacked code.</summary>
        private string CodeType => _code.Bits > 8 ? "ushort" : "byte";

        /// <summary>Values of integer codes that do not fit a signed byte travel as unsigned bytes.</summary>
        private bool ByteValues => _code.Kind == ElementKind.Integer && !_code.ValuesFitSByte;

        public void Emit()
        {
            EmitTables();
            EmitQuantize();
            EmitQuantizeTensorPlanes();
            EmitDequantizeDispatch();
            EmitDotDispatch();
            EmitUnpackAndPack();
            EmitScalarDequantize();
            EmitScalarDot();
            foreach (int width in new[] { 128, 256, 512 })
            {
                EmitSimdDequantize(width);
                EmitSimdDot(width);
            }
        }

        // ---- shared pieces -------------------------------------------------------------------

        private string PlaneParameters => string.Join(", ", Enumerable.Range(0, m.Planes.Count).Select(p => $"ref byte p{p}"));

        private string PlaneArguments => string.Join(", ", Enumerable.Range(0, m.Planes.Count).Select(p => $"ref p{p}"));

        private static string FieldRef(FieldModel f, int extra = 0) =>
            f.Offset + extra == 0 ? $"ref p{f.Plane}" : $"ref Unsafe.Add(ref p{f.Plane}, {f.Offset + extra})";

        private static string FieldByte(FieldModel f) => f.Offset == 0 ? $"p{f.Plane}" : $"Unsafe.Add(ref p{f.Plane}, {f.Offset})";

        private void AdvancePlanes()
        {
            for (int p = 0; p < m.Planes.Count; p++)
            {
                if (!m.Planes[p].PerTensor) w.WriteLine($"p{p} = ref Unsafe.Add(ref p{p}, Plane{p}BytesPerBlock);");
            }
        }

        private void DeclarePlanes(string rowExpression, string? firstBlock)
        {
            for (int p = 0; p < m.Planes.Count; p++)
            {
                string start = $"MemoryMarshal.GetReference({rowExpression}.Plane{p})";
                w.WriteLine(firstBlock is null || m.Planes[p].PerTensor
                    ? $"ref byte p{p} = ref {start};"
                    : $"ref byte p{p} = ref Unsafe.Add(ref {start}, {firstBlock} * Plane{p}BytesPerBlock);");
            }
        }

        /// <summary>Reads the tensor's second-level scale once per call (NVFP4).</summary>
        private void DeclareTensorScale()
        {
            if (m.TensorScale is null) return;
            w.WriteLine($"float tensorScale = {ReadScalar(m.Fields[m.TensorScale.Field], m.TensorScale.Code, fold: false)};");
        }

        /// <summary>Reads a stored scale-like field as float; <paramref name="fold"/> folds the codebook's 2^-k into an E8M0 scale.</summary>
        private string ReadScalar(FieldModel f, ScaleCodeKind code, bool fold) => code switch
        {
            ScaleCodeKind.F32 => $"Fp32.Read({FieldRef(f)})",
            ScaleCodeKind.F16 => $"Fp16.Read({FieldRef(f)})",
            ScaleCodeKind.BF16 => $"Bf16.Read({FieldRef(f)})",
            ScaleCodeKind.E8M0 => fold ? $"E8M0.ToSingle({FieldByte(f)}, {-K})" : $"E8M0.ToSingle({FieldByte(f)})",
            ScaleCodeKind.E4M3 => $"E4M3.ToSingle({FieldByte(f)})",
            _ => throw new NotSupportedException($"scale code {code}"),
        };

        private string WriteScalar(FieldModel f, ScaleCodeKind code, string value) => code switch
        {
            ScaleCodeKind.F32 => $"Fp32.Write({FieldRef(f)}, {value});",
            ScaleCodeKind.F16 => $"Fp16.Write({FieldRef(f)}, {value});",
            ScaleCodeKind.BF16 => $"Bf16.Write({FieldRef(f)}, {value});",
            ScaleCodeKind.E4M3 => $"{FieldByte(f)} = E4M3.FromSingle({value});",
            _ => throw new NotSupportedException($"scale code {code} is written by its rule"),
        };

        private string ReadScale => Divided(ReadScalar(m.Fields[m.Scale!.Field], m.Scale.Code, m.FoldsFactorIntoScale));

        /// <summary>The block scale from its stored code, undoing the declaration's Divisor.</summary>
        private string Divided(string decoded) => m.Scale is { Divisor: not 1f } ? $"{decoded} / {Float(m.Scale.Divisor)}" : decoded;

        /// <summary>Writes the block scale <paramref name="value"/>, applying the declaration's Divisor.</summary>
        private string WriteScale(string value) => WriteScalar(m.Fields[m.Scale!.Field], m.Scale.Code,
            m.Scale.Divisor == 1f ? value : $"{value} * {Float(m.Scale.Divisor)}");

        /// <summary>True when elements are multiplied by something: a block scale, a tensor scale, or both.</summary>
        private bool HasScale => m.Scale is not null || m.TensorScale is not null;

        private string ReadMin => ReadScalar(m.Fields[m.Min!.Field], m.Min.Code, fold: false);

        // ---- scale groups: the whole block, or each sub-block of a super-block ---------------------

        private SubScaleModel? Sub => m.SubScales;

        /// <summary>
        /// Kernels are compiled fully optimised on first call: on a busy machine the tier-0 code of a kernel
        /// that is only ever entered, not called often, can run for seconds before the background recompile.
        /// </summary>
        private const string OptimizeNow = "[MethodImpl(MethodImplOptions.AggressiveOptimization)]";

        private int Groups => Sub?.Count ?? 1;

        private int GroupSize => m.BlockSize / Groups;

        /// <summary>The float value of a sub-scale code (an int expression).</summary>
        private string SubScaleValue(string code)
        {
            var sub = Sub!;
            if (sub.Signed)
            {
                int sign = 1 << (sub.Bits - 1);
                return sub.Bits == 8 ? $"(float)(sbyte){code}" : $"(float)(({code} ^ {sign}) - {sign})";
            }
            return sub.Offset == 0 ? $"(float){code}" : $"(float)({code} - {sub.Offset})";
        }

        /// <summary>Declares, at block level, the block's scale <c>d</c> and its min, zero point or min super-scale.</summary>
        private void DeclareBlockScalars()
        {
            if (m.Scale is not null) w.WriteLine($"float d = {ReadScale}{(m.TensorScale is null ? "" : " * tensorScale")};");
            else if (m.TensorScale is not null) w.WriteLine("float d = tensorScale;");
            if (m.Min is not null) w.WriteLine($"float {MinName} = {ReadMin};");
            if (Sub is not null) w.WriteLine($"UnpackSubScales(scales, mins, {PlaneArguments});");
        }

        private string MinName => m.Min?.Mode switch
        {
            MinModeKind.ZeroPoint => "zero",
            MinModeKind.SubtractScaled => "dmin",
            _ => "min",
        };

        /// <summary>The expression of group <paramref name="group"/>'s scale (an int expression for sub-blocks).</summary>
        private string? GroupScale(string group) => !HasScale ? null : Sub is null ? "d" : $"d * {SubScaleValue($"scales[{group}]")}";

        /// <summary>The value subtracted from every element of a sub-block (K-quants: dmin times the sub-min).</summary>
        private string GroupMin(string group) => $"dmin * (float)mins[{group}]";

        /// <summary>Element value times scale (plus min), in the order the reference dequantizers round.</summary>
        private string Reconstruct(string value, string scale, string groupMin) => !HasScale ? value : m.Min?.Mode switch
        {
            MinModeKind.Add => $"{value} * {scale} + min",
            MinModeKind.ZeroPoint => $"({value} - zero) * {scale}",
            MinModeKind.SubtractScaled => $"{value} * {scale} - {groupMin}",
            _ => $"{value} * {scale}",
        };

        private void DeclareSubScaleBuffers()
        {
            if (Sub is null) return;
            w.WriteLine($"Span<byte> scales = stackalloc byte[{Sub.Count}];");
            w.WriteLine(Sub.WithMins ? $"Span<byte> mins = stackalloc byte[{Sub.Count}];" : "Span<byte> mins = default;");
        }

        /// <summary>The float value of code <paramref name="code"/> (an int expression), before the scale.</summary>
        private string ScalarValue(string code)
        {
            if (_code.Kind == ElementKind.Minifloat && !UsesTable) return $"Minifloat.Decode<Element>({code})";
            if (UsesTable)
            {
                return IntTable && K > 0 && !m.FoldsFactorIntoScale ? $"s_codeValues[{code}] * {Float((float)Math.Pow(2, -K))}" : $"s_codeValues[{code}]";
            }
            if (_code.Signed)
            {
                int sign = 1 << (_code.Bits - 1);
                return _code.Bits == 8 ? $"(float)(sbyte){code}" : $"(float)(({code} ^ {sign}) - {sign})";
            }
            return _code.Offset == 0 ? $"(float){code}" : $"(float)({code} - {_code.Offset})";
        }

        /// <summary>Element value times scale (plus min), in the order the reference dequantizers round.</summary>
        private string Reconstruct(string value) => m.Min?.Mode switch
        {
            MinModeKind.Add => $"{value} * d + min",
            MinModeKind.ZeroPoint => $"({value} - min) * d",
            _ => $"{value} * d",
        };

        private void EmitTables()
        {
            if (_code.Kind == ElementKind.Minifloat)
            {
                w.WriteLine($"/// <summary>The element minifloat: 1 sign, {_code.ExponentBits} exponent and {_code.MantissaBits} mantissa bits, bias {_code.Bias}.</summary>");
                w.WriteLine(GeneratedCode);
                using (w.Block("private readonly struct Element : global::Quant.Numerics.IMinifloatSpec"))
                {
                    w.WriteLine($"public static int ExponentBits => {_code.ExponentBits};");
                    w.WriteLine($"public static int MantissaBits => {_code.MantissaBits};");
                    w.WriteLine($"public static int Bias => {_code.Bias};");
                    w.WriteLine($"public static global::Quant.MinifloatSpecials Specials => global::Quant.MinifloatSpecials.{_code.Specials};");
                }
                w.WriteLine();
            }
            if (!UsesTable) return;
            // Integer tables hold integers, and the integer 0 has no sign: -0 becomes +0, as the byte table and ggml have it.
            var values = _code.Table.Select(v => IntTable ? (float)(v * Math.Pow(2, K)) + 0f : v).ToList();
            // SIMD float lookups load 16 entries, so a shorter float table is padded (with codes that never occur).
            while (FloatTable && values.Count < 16) values.Add(0f);
            string what = IntTable && K > 0 ? $" times 2^{K}, so that every entry is an integer" : IntTable ? " (all integers)" : "";
            w.WriteLine($"/// <summary>The value of each code{what}.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine($"private static readonly float[] s_codeValues = [{string.Join(", ", values.Select(Float))}];");
            w.WriteLine();
            if (IntTable)
            {
                var bytes = values.Select(v => ((int)v).ToString(CultureInfo.InvariantCulture)).Concat(Enumerable.Repeat("0", 16 - values.Count));
                w.WriteLine("/// <summary>The same values as bytes: the SIMD paths map 16 codes with one byte shuffle.</summary>");
                w.WriteLine(GeneratedCode);
                w.WriteLine($"private static readonly Vector128<sbyte> s_codeBytes = Vector128.Create((sbyte){string.Join(", ", bytes)});");
                w.WriteLine();
            }
            if (_code.Kind == ElementKind.Codebook && m.Rules.Any(r => r.Kind is RuleKind.AbsMax or RuleKind.ErrorMinimizing))
            {
                // Distinct values in ascending order (magnitudes only for sign-magnitude tables), with a code for each.
                int count = SignMagnitude ? _code.Table.Count / 2 : _code.Table.Count;
                var sorted = Enumerable.Range(0, count).Select(c => (Value: _code.Table[c], Code: c))
                    .GroupBy(e => e.Value).Select(g => g.First()).OrderBy(e => e.Value).ToList();
                var midpoints = Enumerable.Range(0, sorted.Count - 1).Select(i => (sorted[i].Value + sorted[i + 1].Value) / 2);
                w.WriteLine($"/// <summary>Midpoints between the codebook's distinct {(SignMagnitude ? "magnitudes" : "values")}, ascending: the rounding thresholds.</summary>");
                w.WriteLine(GeneratedCode);
                w.WriteLine($"private static readonly float[] s_midpoints = [{string.Join(", ", midpoints.Select(Float))}];");
                w.WriteLine();
                w.WriteLine("/// <summary>The code of each distinct value, in the same order.</summary>");
                w.WriteLine(GeneratedCode);
                w.WriteLine($"private static readonly byte[] s_midpointCodes = [{string.Join(", ", sorted.Select(e => Int(e.Code)))}];");
                w.WriteLine();
            }
            if (m.Rules.Any(r => r.Kind == RuleKind.SharedExponentMistralRs))
            {
                int half = _code.Table.Count / 2;
                var midpoints = Enumerable.Range(0, half - 1).Select(i => (_code.Table[i] + _code.Table[i + 1]) / 2);
                w.WriteLine("/// <summary>Midpoints between consecutive positive magnitudes: the rounding thresholds of the mistralrs rule.</summary>");
                w.WriteLine(GeneratedCode);
                w.WriteLine($"private static readonly float[] s_magnitudeMidpoints = [{string.Join(", ", midpoints.Select(Float))}];");
                w.WriteLine();
            }
        }

        private void EmitQuantizeTensorPlanes()
        {
            if (m.Tiled)
            {
                EmitQuantizeTilePlane();
                return;
            }
            if (m.TensorScale is null) return;
            var field = m.Fields[m.TensorScale.Field];
            float largest = LargestFinite;
            // Without a block scale the tensor scale alone maps the largest element to the largest code.
            string maxScale = m.Scale?.Code switch
            {
                ScaleCodeKind.E4M3 => "448f",
                ScaleCodeKind.F16 => "65504f",
                _ => "1f",
            };
            w.WriteLine($"/// <summary>");
            w.WriteLine($"/// Writes the tensor scale: the tensor's largest magnitude over ({Float(largest)} x {maxScale}), the largest element");
            w.WriteLine($"/// value times the largest block-scale value, so that block scales use their code's whole range.");
            w.WriteLine($"/// </summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static void QuantizeTensorPlanes(global::System.ReadOnlySpan<float> weights, global::Quant.QuantMatrix matrix)"))
            {
                w.WriteLine("global::System.ArgumentNullException.ThrowIfNull(matrix);");
                w.WriteLine($"ref byte p{field.Plane} = ref MemoryMarshal.GetReference(matrix.Plane({field.Plane}).Span);");
                w.WriteLine($"{WriteScalar(field, m.TensorScale.Code, $"QuantMath.AbsMax(weights) / ({Float(largest)} * {maxScale})")}");
            }
            w.WriteLine();
        }

        /// <summary>The scales of 2-D tiles: each tile's largest magnitude over the largest element value.</summary>
        private void EmitQuantizeTilePlane()
        {
            var field = m.Fields[m.Scale!.Field];
            w.WriteLine($"/// <summary>");
            w.WriteLine($"/// Writes the scale of every {m.TileRows} x {m.BlockSize} tile: its largest magnitude over {Float(LargestFinite)}, the largest");
            w.WriteLine($"/// element value. The last tiles of a matrix whose rows are not a multiple of {m.TileRows} take the rows there are.");
            w.WriteLine($"/// </summary>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static void QuantizeTensorPlanes(global::System.ReadOnlySpan<float> weights, global::Quant.QuantMatrix matrix)"))
            {
                w.WriteLine("global::System.ArgumentNullException.ThrowIfNull(matrix);");
                w.WriteLine("int columns = matrix.Columns, blocks = columns / BlockSize;");
                w.WriteLine($"Span<byte> scales = matrix.Plane({field.Plane}).Span;");
                using (w.Block($"for (int tile = 0; tile * {m.TileRows} < matrix.Rows; tile++)"))
                {
                    w.WriteLine($"int first = tile * {m.TileRows}, last = Math.Min(first + {m.TileRows}, matrix.Rows);");
                    using (w.Block("for (int b = 0; b < blocks; b++)"))
                    {
                        w.WriteLine("float amax = 0f;");
                        w.WriteLine("for (int r = first; r < last; r++) amax = MathF.Max(amax, QuantMath.AbsMax(weights.Slice(r * columns + b * BlockSize, BlockSize)));");
                        w.WriteLine($"ref byte p{field.Plane} = ref scales[(tile * blocks + b) * Plane{field.Plane}BytesPerBlock];");
                        w.WriteLine(WriteScale($"(amax / {Float(LargestFinite)})"));
                    }
                }
            }
            w.WriteLine();
        }

        private void EmitDequantizeDispatch()
        {
            w.WriteLine($"/// <summary>");
            w.WriteLine($"/// Dequantizes <c>destination.Length / {m.BlockSize}</c> blocks of a <c>{m.Name}</c> row, starting at block");
            w.WriteLine($"/// <paramref name=\"firstBlock\"/>. Every <paramref name=\"level\"/> writes the same floats, bit for bit.");
            w.WriteLine($"/// </summary>");
            w.WriteLine($"/// <exception cref=\"global::Quant.QuantFormatException\">The row length is not a whole number of blocks.</exception>");
            w.WriteLine($"/// <exception cref=\"global::System.ArgumentException\">The range or a plane does not fit the row.</exception>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static void DequantizeBlocks(in global::Quant.QuantRow source, int firstBlock, global::System.Span<float> destination, global::Quant.SimdLevel level)"))
            {
                w.WriteLine("int blocks = global::Quant.QuantRowChecks.Blocks(in source, Info, firstBlock, destination.Length);");
                w.WriteLine("ref float y = ref MemoryMarshal.GetReference(destination);");
                DeclarePlanes("source", "firstBlock");
                Switch("DequantizeBlocks", $"blocks, ref y, {PlaneArguments}", returns: false);
            }
            w.WriteLine();
            foreach (var (type, what) in new[] { ("global::System.Half", "IEEE binary16"), ("global::Quant.BFloat16", "bfloat16") })
            {
                w.WriteLine($"/// <summary>Dequantizes blocks of a <c>{m.Name}</c> row to {what}, rounding the float32 values to nearest even.</summary>");
                w.WriteLine(GeneratedCode);
                w.WriteLine($"public static void DequantizeBlocks(in global::Quant.QuantRow source, int firstBlock, global::System.Span<{type}> destination, global::Quant.SimdLevel level)");
                w.WriteLine("    => global::Quant.QuantRows.DequantizeBlocks<Format>(in source, firstBlock, destination, level);");
                w.WriteLine();
            }
            w.WriteLine($"/// <summary>Dequantizes a whole <c>{m.Name}</c> row with the best SIMD level of this machine.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine("public static void DequantizeRow(in global::Quant.QuantRow source, global::System.Span<float> destination)");
            w.WriteLine("    => DequantizeBlocks(in source, 0, destination, global::Quant.QuantSimd.Best);");
            w.WriteLine();
        }

        private void EmitDotDispatch()
        {
            w.WriteLine($"/// <summary>The dot product of a <c>{m.Name}</c> row with <paramref name=\"x\"/>, dequantizing on the fly.</summary>");
            w.WriteLine($"/// <exception cref=\"global::System.ArgumentException\"><paramref name=\"x\"/> or a plane does not fit the row.</exception>");
            w.WriteLine(GeneratedCode);
            using (w.Block("public static float DotRow(in global::Quant.QuantRow row, global::System.ReadOnlySpan<float> x, global::Quant.SimdLevel level)"))
            {
                w.WriteLine("int blocks = global::Quant.QuantRowChecks.Row(in row, Info, x.Length);");
                w.WriteLine("ref float px = ref MemoryMarshal.GetReference(x);");
                DeclarePlanes("row", null);
                Switch("DotRow", $"blocks, ref px, {PlaneArguments}", returns: true);
            }
            w.WriteLine();
            w.WriteLine($"/// <summary>The dot product of a <c>{m.Name}</c> row with <paramref name=\"x\"/>, with the best SIMD level of this machine.</summary>");
            w.WriteLine(GeneratedCode);
            w.WriteLine("public static float DotRow(in global::Quant.QuantRow row, global::System.ReadOnlySpan<float> x)");
            w.WriteLine("    => DotRow(in row, x, global::Quant.QuantSimd.Best);");
            w.WriteLine();
        }

        private void Switch(string method, string arguments, bool returns)
        {
            using (w.Block("switch (level)"))
            {
                foreach (var (level, suffix) in new (string? Level, string Suffix)[] { ("Vector512", "512"), ("Vector256", "256"), ("Vector128", "128"), (null, "Scalar") })
                {
                    w.WriteLine(level is null ? "default:" : $"case global::Quant.SimdLevel.{level}:");
                    using (w.Indent())
                    {
                        if (returns)
                        {
                            w.WriteLine($"return {method}{suffix}({arguments});");
                        }
                        else
                        {
                            w.WriteLine($"{method}{suffix}({arguments});");
                            w.WriteLine("break;");
                        }
                    }
                }
            }
        }
    }
}
